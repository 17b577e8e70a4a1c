"""Entry point of every rule: hands the Snakemake job to the library."""

import sys
from pathlib import Path

# scriptdir reads ".../workflow/rules/../scripts": resolve it, or parents[1] is workflow/rules
# and the jobs import whatever vabal is installed instead of this checkout's.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from vabal.snakemake_step import run  # noqa: E402

run(snakemake)  # noqa: F821
