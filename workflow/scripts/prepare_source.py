"""Rule prepare_source: read a source (archive, folder or digits) into its image store."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, prepare_source

job(snakemake, __real_file__, prepare_source)
