"""What the workflow does for a SLURM cluster, without importing torch.

* Which jobs ask SLURM for a GPU (:func:`gpus`): the steps that run a network, unless the
  run's classifier recipe says ``device: cpu`` (``training: {device: cpu}``, the switch for
  CPU-only clusters and partitions).
* A start-up check (:func:`check_partition_gpus`): when jobs ask for GPUs and the partition
  they go to has none (``sinfo``), stop before anything is submitted, with one message
  naming the partition and the switch. When ``sinfo`` cannot tell, nothing is said.
* A ``sacct`` shim (:data:`SHIM_DIR`, put first on the ``PATH`` of a SLURM run): on a
  cluster with accounting, ``sacct`` reports a cancelled job as ``CANCELLED by <uid>``; the
  executor plugin knows only ``CANCELLED`` and would wait for that job forever. The shim
  runs the real ``sacct`` and reports the state as ``CANCELLED``, so the job counts as
  failed and is submitted again (``retries``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from vabal.errors import ConfigError
from vabal.plan import config as cfg
from vabal.plan import grid

#: rules that run a network; a method's own steps among them (and its select) as its
#: MethodInfo says (vabal.methods.registry.MethodInfo.uses_device)
NETWORK_RULES = ("train_classifier", "extract_features", "train_vae", "score")
SHIM_DIR = Path(__file__).resolve().parents[3] / "slurm" / "bin"
SWITCH = "training: {device: cpu}"


def on_cpu(config: dict, dataset: str, method: str | None = None) -> bool:
    """Whether the run's classifier recipe pins it to the CPU (the CPU-only switch)."""
    return cfg.training_recipe(config, dataset, method)["device"] == "cpu"


def gpus(config: dict, rule: str, dataset: str, method: str) -> int:
    """GPUs a job of ``rule`` asks for: 1 for a step that runs a network, 0 under the switch."""
    if on_cpu(config, dataset, method):
        return 0
    if method is not None and (rule in NETWORK_RULES[1:] or rule == "select"):
        from vabal.methods import REGISTRY

        return int(REGISTRY[config["methods"][method]["kind"]].uses_device(rule))
    return int(rule in NETWORK_RULES)


def gpu_resource(config: dict, rule: str):
    """The ``gpu`` resource of ``rule``'s jobs, a function of their wildcards (:func:`gpus`)."""
    return lambda wildcards: gpus(config, rule, wildcards.dataset, wildcards.get("method"))


def any_gpu_jobs(config: dict) -> bool:
    """Whether some selected run has a job that asks for a GPU."""
    return any(not on_cpu(config, d, m) for d, m, _ in grid.runs(config))


def partition_gpus(partition: str | None, sinfo: str = "sinfo") -> tuple[str, bool] | None:
    """(partition, whether some node of it has a GPU) from ``sinfo``; ``partition=None``
    looks at the cluster's default partition. ``None`` when sinfo cannot tell."""
    if shutil.which(sinfo) is None:
        return None
    try:
        out = subprocess.run(
            [sinfo, "--noheader", "--format=%P|%G"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found: dict[str, bool] = {}
    default = None
    for line in out.splitlines():
        name, _, gres = line.strip().partition("|")
        if not name:
            continue
        if name.endswith("*"):
            name = name[:-1]
            default = name
        has_gpu = any(g.strip().startswith("gpu") for g in gres.split(","))
        found[name] = found.get(name, False) or has_gpu
    name = partition or default
    if name not in found:
        return None
    return name, found[name]


def check_partition_gpus(config: dict, partition: str | None, sinfo: str = "sinfo") -> None:
    """Stop when jobs would ask for GPUs on a partition that has none (before any sbatch)."""
    if not any_gpu_jobs(config):
        return
    seen = partition_gpus(partition, sinfo)
    if seen is None or seen[1]:
        return
    raise ConfigError(
        f"SLURM partition {seen[0]!r} has no GPUs (sinfo lists no gpu gres on its nodes), "
        f"but the workflow's network steps ask for one GPU each. Run them on the CPU with "
        f"`{SWITCH}` in the config (or --config 'training={{device: cpu}}'), or choose a "
        f"partition with GPUs (default-resources: slurm_partition in slurm/config.yaml)"
    )


def default_partition(workflow) -> str | None:
    """The ``slurm_partition`` of the run's default resources (profile or command line)."""
    try:
        resources = workflow.resource_settings.default_resources
        value = resources.get("slurm_partition") if resources is not None else None
        value = getattr(value, "value", value)  # a snakemake.resources.Resource
    except Exception:  # resource settings of another Snakemake version: cannot tell
        return None
    if isinstance(value, str):
        value = value.strip().strip("\"'")
    return value or None


def is_slurm(workflow) -> bool:
    """Whether the run submits to SLURM (known once Snakemake executes: from ``onstart``)."""
    plugin = getattr(workflow, "executor_plugin", None)
    return getattr(plugin, "name", None) == "slurm"


def slurm_startup(workflow, config: dict) -> None:
    """What a SLURM run does before submitting anything (the Snakefile's ``onstart``)."""
    if is_slurm(workflow):
        use_sacct_shim()
        check_partition_gpus(config, default_partition(workflow))


def use_sacct_shim() -> None:
    """Put the ``sacct`` shim first on this process's PATH (the plugin runs sacct from it)."""
    path = os.environ.get("PATH", "")
    if str(SHIM_DIR) not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([str(SHIM_DIR), path])
