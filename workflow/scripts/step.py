"""Entry point of every rule: hands the Snakemake job to the library."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from vabal.snakemake_step import run  # noqa: E402

run(snakemake)  # noqa: F821
