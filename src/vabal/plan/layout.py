"""Where the results of a run live, relative to the config's ``results`` folder.

The round chain's files are under ``runs/<dataset>/<method>/seed<seed>/round<round>/``;
their logs under ``logs/`` with the same path.
"""

RUN = "runs/{dataset}/{method}/seed{seed}"
ROUND = RUN + "/round{round}"
