"""Entry point of every rule: hands the Snakemake job to the library."""

import sys
from pathlib import Path

# This checkout's library first. Snakemake sets __file__ to the real path of this script
# (snakemake.scriptdir may read ".../workflow/rules/../scripts", or be a source-cache copy).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from vabal.run import forkserver  # noqa: E402

# In a local run, the fork server runs this same script in a process that has the libraries
# imported already; elsewhere, or if it cannot, the job runs here.
status = forkserver.delegate(__real_file__)  # noqa: F821 (the job's script, set by Snakemake)
if status is not None:
    sys.exit(status)

from vabal.run.step import run  # noqa: E402

run(snakemake)  # noqa: F821
