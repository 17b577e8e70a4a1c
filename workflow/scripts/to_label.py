"""Rule to_label: one real round on the user's images, which of them to label next."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, to_label

job(snakemake, __real_file__, to_label)
