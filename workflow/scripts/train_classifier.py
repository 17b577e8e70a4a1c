"""Rule train_classifier: label the previous selection, train the classifier, evaluate it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, train_classifier

job(snakemake, __real_file__, train_classifier)
