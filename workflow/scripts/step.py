"""The script of every rule: the function of vabal.run.step registered for the rule's name
(vabal.run.step.for_rule), run as the job (in a child of the fork server where one is up)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run import step

step.job(snakemake, __real_file__, step.for_rule(snakemake.rule))
