"""Running jobs: the round steps, the adapter between a Snakemake job and the library, the
fork server of local runs, stale-lock cleanup and the SLURM start-up checks."""
