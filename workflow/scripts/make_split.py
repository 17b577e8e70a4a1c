"""Rule make_split: a dataset's split for one seed (variant, pool, initial set, test)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, make_split

job(snakemake, __real_file__, make_split)
