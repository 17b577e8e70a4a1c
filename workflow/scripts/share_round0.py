"""Rules share_round0 and share_round0_features: a run's round 0 links to the shared one."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, share_round0

job(snakemake, __real_file__, share_round0)
