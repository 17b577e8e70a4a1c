"""Rule select: the next budget of samples to label."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, select

job(snakemake, __real_file__, select)
