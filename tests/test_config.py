"""Config validation: every bad input gives one message naming the key, before any job."""

import copy

import pytest
import yaml
from conftest import REPO, TINY_CONFIG

from vabal.errors import ConfigError
from vabal.plan import config as cfg
from vabal.plan import grid, workflow


def with_change(path, value):
    config = copy.deepcopy(TINY_CONFIG)
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


DELETE = object()
D = ("datasets", "digits_plus1")

CASES = [
    (("colour",), "red", "unknown key 'colour'"),
    ((*D, "buget"), 10, "datasets.digits_plus1: unknown key 'buget'"),
    ((*D, "budget"), "ten", "datasets.digits_plus1.budget"),
    ((*D, "budget"), 0, "datasets.digits_plus1.budget: 0 is invalid"),
    ((*D, "budget"), -5, "datasets.digits_plus1.budget: -5 is invalid"),
    ((*D, "budget"), 200, "the pool holds only"),
    ((*D, "rounds"), 0, "datasets.digits_plus1.rounds: 0 is invalid"),
    (("seeds",), [], "seeds: [] is invalid"),
    (("methods", "random", "kind"), "magic", "unknown method 'magic'"),
    (("methods", "random", "temperature"), 3, "unknown parameter(s) ['temperature']"),
    (("training", "classifier"), "vgg16", "training.classifier"),
    (("training", "lr_milestones"), [50], "lr_milestones [50] exceed epochs 4"),
    ((*D, "imbalance"), "+[11]", "class index 11 is out of range"),
    ((*D, "source"), "mnist", "unknown source 'mnist'"),
    ((*D, "evaluate_on"), "val", "evaluate_on: val needs val_fraction > 0"),
    (("sources", "digits", "kind"), "tiff", "sources.digits.kind"),
    (("sources", "neu"), {"kind": "neu"}, "kind neu needs a path"),
    (
        ("sources", "digits"),
        {"kind": "neu", "path": "/nowhere/neu.tar.xz"},
        "sources.digits.path: '/nowhere/neu.tar.xz' does not exist; expected the NEU-CLS-64",
    ),
    (("runs",), [{"datasets": ["cifar"], "methods": ["random"]}], "runs[0].datasets"),
    (("only_methods",), ["vaal2"], "only_methods: unknown name 'vaal2'"),
    (("figures", "fig3a", "datasets"), ["nope"], "figures.fig3a.datasets: unknown name"),
    (
        ("figures", "curve"),
        {"datasets": ["digits_plus1"]},
        "figures: unknown key 'curve' (allowed: fig3a, fig3b",
    ),
    (("skip_datasets",), ["nope"], "skip_datasets: unknown name 'nope'"),
    ((*D,), DELETE, "config error at datasets: {} is invalid"),
    (("methods", "vabal"), {"kind": "vabal", "lambda": -0.1}, "methods.vabal.lambda: -0.1"),
    (("methods", "vabal"), {"kind": "vabal", "mc_samples": 0}, "methods.vabal.mc_samples: 0"),
    (("methods", "bald"), {"kind": "bald", "mc_samples": 0}, "methods.bald.mc_samples: 0"),
    (("methods", "vabal"), {"kind": "vabal", "lamda": 0.1}, "unknown parameter(s) ['lamda']"),
    (
        ("methods", "vabal"),
        {"kind": "vabal", "reading": "nats"},
        'methods.vabal.reading: "nats" is invalid',
    ),
    (("methods", "bald"), {"kind": "bald", "subset": -5}, "methods.bald.subset: -5 is invalid"),
    # today's methods: their parameters, checked against methods.schema.yaml
    (("methods", "m"), {"kind": "margin", "chunk_size": 8}, "unknown parameter(s) ['chunk_size']"),
    (("methods", "e"), {"kind": "entropy", "temperature": 2}, "for method kind 'entropy'"),
    (("methods", "b"), {"kind": "badge", "chunk_size": 0}, "methods.b.chunk_size: 0 is invalid"),
    (("methods", "t"), {"kind": "typiclust", "k_neighbours": 0}, "methods.t.k_neighbours: 0"),
    (("methods", "t"), {"kind": "typiclust", "max_clusters": 2.5}, "methods.t.max_clusters: 2.5"),
    (("methods", "c"), {"kind": "balanced", "chunk_size": "big"}, 'methods.c.chunk_size: "big"'),
    (
        ("beyond",),
        {"leaderboard": {"datasets": ["digits_plus1"], "methods": ["random"], "references": ["x"]}},
        "beyond.leaderboard.references: 'x' is not one of its methods",
    ),
    (
        ("sources", "digits", "resize"),
        2,
        "sources.digits.resize: 2 is invalid: 2 is less than the minimum of 4",
    ),
    ((*D, "imbalance"), "+1", "imbalance: cannot read '+1'"),
    ((*D, "budget"), DELETE, "datasets.digits_plus1: 'budget' is a required property"),
    (("seeds",), [-1], "seeds.0: -1 is invalid"),
    (("results",), "/dev/null/results", "results: '/dev/null/results' cannot be a folder"),
]


@pytest.mark.parametrize(("path", "value", "needle"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_config_names_the_problem(path, value, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = with_change(path, value)
    with pytest.raises(ConfigError) as err:
        workflow.startup(config)
    assert needle in str(err.value)
    assert not (tmp_path / "results").exists()


def test_good_config_fills_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = workflow.startup(copy.deepcopy(TINY_CONFIG))
    ds = config["datasets"]["digits_plus1"]
    assert ds["val_fraction"] == 0 and ds["evaluate_on"] == "test" and ds["variant_seed"] == 0
    recipe = cfg.training_recipe(config, "digits_plus1", "random")
    assert recipe["momentum"] == 0.9 and recipe["weight_decay"] == 5e-4 and recipe["width"] == 8
    assert list(grid.runs(config)) == [("digits_plus1", "random", 0)]


def test_filters_select_runs():
    config = copy.deepcopy(TINY_CONFIG)
    config["seeds"] = [0, 1, 2]
    config["only_seeds"] = [1]
    cfg.validate(config)
    assert list(grid.runs(config)) == [("digits_plus1", "random", 1)]


def test_repository_configs_are_valid():
    from conftest import REPO

    for name in ("config.yaml", "configs/quickstart.yaml"):
        cfg.load(REPO / name)


def test_bad_config_stops_snakemake_before_any_job(tmp_path, snakemake_run):
    config = with_change((*D, "budget"), 200)
    proc = snakemake_run(tmp_path, config, check=False)
    assert proc.returncode != 0
    assert "the pool holds only" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_every_method_kind_has_one_definition():
    """methods.schema.yaml defines exactly the built-in kinds; the config schema lists none
    (the registry is the one list of kinds: a method entry is checked against its kind's)."""
    from vabal.methods import REGISTRY
    from vabal.methods.registry import definitions

    assert set(definitions()) == set(REGISTRY)
    text = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    assert "const: vabal" not in text and "methods.schema.yaml#" not in text
    for kind, spec in REGISTRY.items():
        assert definitions()[kind]["properties"]["kind"] == {"const": kind}
        assert set(spec.params) == set(definitions()[kind]["properties"]) - {"kind"}
    config = cfg.validate(yaml.safe_load((REPO / "configs/quickstart.yaml").read_text()))
    # the given parameters, then the defaults in the definition's order
    given = {"kind": "vabal", "mc_samples": 10, "epochs": 5}
    assert config["methods"]["vabal"] == {**given, **REGISTRY["vabal"].resolve(given)}
    assert list(config["methods"]["vabal"])[:3] == list(given)
