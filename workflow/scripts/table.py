"""The table rules (table1, table2): one table as csv, md, tex and html."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, table

job(snakemake, __real_file__, table)
