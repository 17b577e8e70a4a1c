"""The script of the rules that name their work by their own name: the function of
vabal.run.step called like the rule (leaderboard, summary, readings, publish)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run import step

step.job(snakemake, __real_file__, getattr(step, snakemake.rule))
