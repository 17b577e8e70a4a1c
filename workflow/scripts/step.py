"""Entry point of every rule: hands the Snakemake job to the library."""

import sys
from pathlib import Path

# This checkout's library first. Snakemake sets __file__ to the real path of this script
# (snakemake.scriptdir may read ".../workflow/rules/../scripts", or be a source-cache copy).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from vabal.snakemake_step import run  # noqa: E402

run(snakemake)  # noqa: F821
