"""Planning the workflow, without torch: the config and its checks, the targets (figures
and tables) and the runs they need, what the Snakefile asks at start-up, and the GPU-hour
estimate of a config."""
