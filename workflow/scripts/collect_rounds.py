"""Rule collect_rounds: every round's metrics as one table (rounds.parquet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import collect_rounds, job

job(snakemake, __real_file__, collect_rounds)
