"""Rule train_vae: the method's VAE on the round's features (VaB-AL, VAAL)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # this checkout's library
from vabal.run.step import job, method_step

job(snakemake, __real_file__, method_step)
