"""Rule download_source: a source's URL, fetched by Snakemake's storage plugin, checked."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import download_source, job

job(snakemake, __real_file__, download_source)
