"""Rule leaderboard: AUBC and final accuracy per method and dataset, paired against references."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, leaderboard

job(snakemake, __real_file__, leaderboard)
