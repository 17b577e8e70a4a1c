"""Rule extract_round0_features: a shared round 0's pooled features and logits of the pool."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import extract_round0_features, job

job(snakemake, __real_file__, extract_round0_features)
