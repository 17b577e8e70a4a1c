"""A method package of one's own, outside the library: named in ``VABAL_METHODS``, it is found
everywhere the workflow asks about a method (the config check, the DAG and its rules, the
legend label, ``vabal estimate``, the cluster's GPU requests, the fork server) without a
change to any file of this repository."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, TINY_CONFIG, run_snakemake

from vabal import layout

pytestmark = pytest.mark.slow

PACKAGE = {
    "__init__.py": """
from vabal.methods.registry import Cost, MethodInfo

SPEC = MethodInfo(
    kind="toy",
    target="toy_method.method:LeastConfident",
    steps=("extract_features", "score"),
    label="Least confident",
    parameters={"power": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}},
    costs={"score": Cost(per=("power",))},
)
""",
    "method.py": """
import numpy as np

from toy_method import SPEC
from vabal.learn.features import RoundFeatures
from vabal.methods.base import FeaturesMethod


class LeastConfident(FeaturesMethod):
    spec = SPEC

    def score(self, ctx):
        top = RoundFeatures(ctx).probs(ctx.unlabelled).max(1).values.double().numpy()
        return -(top ** self.params["power"])
""",
}

PROBE = """
import json, sys, yaml
from vabal.plan import catalogue, estimate, workflow as vw
from vabal.plan import config as cfg
from vabal.run import cluster, forkserver
config = cfg.validate(yaml.safe_load(open(sys.argv[1])))
rows = [{"section": "round", "name": n, "value": v, "unit": "s"} for n, v in
        [("random: train_classifier", 600.0), ("random: evaluate", 10.0),
         ("vabal: extract_features", 5.0), ("toy: score", 0.47)]]
print(json.dumps({
    "entry": config["methods"]["toy"],
    "label": catalogue.method_label(config, "toy"),
    "score_rule_methods": vw.method_regex(config, "score"),
    "gpus": {s: cluster.gpus(config, s, "digits_plus1", "toy")
             for s in ("extract_features", "score", "select")},
    "estimate": estimate.run_seconds(config, "digits_plus1", "toy",
                                     estimate.step_rates(rows)),
    "preloaded": "toy_method.method" in forkserver.preload_modules(),
}))
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "toy_method").mkdir()
    for name, text in PACKAGE.items():
        (root / "toy_method" / name).write_text(text)
    path = os.pathsep.join([str(root), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    config = {
        **TINY_CONFIG,
        "methods": {"random": {"kind": "random"}, "toy": {"kind": "toy", "power": 2}},
        "figures": {"fig3a": {"datasets": ["digits_plus1"], "methods": ["random", "toy"]}},
    }
    return root, {"VABAL_METHODS": "toy_method", "PYTHONPATH": path}, config


def probe(config: dict, env: dict, path) -> subprocess.CompletedProcess:
    """PROBE on ``config`` (written to ``path``) in a process with the package's ``env``."""
    import yaml

    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-c", PROBE, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})


def test_the_workflow_asks_the_package_everything(plugin, tmp_path):
    _, env, config = plugin
    proc = probe(config, env, tmp_path / "config.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["entry"] == {"kind": "toy", "power": 2}
    assert out["label"] == "Least confident"
    assert "toy" in out["score_rule_methods"].split("|")
    assert out["gpus"] == {"extract_features": 1, "score": 1, "select": 0}
    assert set(out["estimate"]) == {"train_classifier", "evaluate", "extract_features", "score"}
    assert out["estimate"]["score"] > 0 and out["preloaded"]
    # a wrong parameter is named as for the library's own kinds
    config_bad = {**config, "methods": {"toy": {"kind": "toy", "power": -1}}}
    proc = probe(config_bad, env, tmp_path / "bad.yaml")
    assert proc.returncode != 0 and "methods.toy.power: -1 is invalid" in proc.stderr


def test_a_run_of_the_package_selects_what_it_scores(plugin, tmp_path):
    """The DAG has the package's steps, and a real run selects the least confident samples."""
    _, env, config = plugin
    run_snakemake(tmp_path, config, targets=["fig3a"], env=env)
    round0 = tmp_path / layout.round_path("", "results", dataset="digits_plus1", method="toy",
                                          seed=0, round=0)  # fmt: skip
    scores = pd.read_parquet(round0 / "scores.parquet")
    selection = pd.read_parquet(round0 / "selection.parquet")
    top = scores.sort_values("score", ascending=False, kind="stable").head(len(selection))
    assert set(selection["sample_id"]) == set(top["sample_id"])
    assert (tmp_path / "results/figures/fig3a.png").exists()
    proc = run_snakemake(tmp_path, config, targets=["fig3a"], check=False)  # without it
    assert proc.returncode != 0 and "unknown method 'toy'" in proc.stderr + proc.stdout
