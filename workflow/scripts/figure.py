"""The figure rules (fig3a ... fig23, vabal_diagnostics): one figure and its data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import figure, job

job(snakemake, __real_file__, figure)
