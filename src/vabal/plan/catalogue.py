"""The catalogue of targets: every figure and table of the paper and the targets beyond it,
by name, with their kind (how each is drawn: the config schema's definitions), titles and
legend labels, and each target's entry in a config.

:mod:`vabal.plan.targets` resolves a configured target's runs, files and spec;
:mod:`vabal.plan.target_checks` checks its entry against its kind and the runs.
"""

from __future__ import annotations

from pathlib import Path

from vabal.errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"

#: target -> kind. Kinds: curve (mean +- std over datasets and seeds), panels (one panel per
#: dataset), trials (one panel per seed of the highlighted method), top_images, class_scatter,
#: rare_ratio, budget_summary, lambda_summary, sweep_panels (one panel per swept method),
#: method_table, vabal_diagnostics (per round: spread of Eq. 6's terms, selection moved by
#: each, active units, reconstruction R², VAE/classifier agreement).


def _kinds(section: str) -> dict[str, str]:
    """Target name -> kind, in the paper's order, as config.schema.yaml declares them (each
    target's entry refers to its kind's definition, which lists the keys it reads)."""
    import yaml

    schema = yaml.safe_load(SCHEMA.read_text())
    entries = schema["properties"][section]["properties"]
    return {name: ref["$ref"].rsplit("/", 1)[1] for name, ref in entries.items()}


FIGURES = _kinds("figures")
TABLES = _kinds("tables")
#: not in the paper: the leaderboard of today's methods beside the paper's
BEYOND = _kinds("beyond")
TARGETS = {**FIGURES, **TABLES, **BEYOND}


def section_targets(section: str) -> dict[str, str]:
    """The targets (name -> kind) of a config section: figures, tables or beyond."""
    return {"figures": FIGURES, "tables": TABLES, "beyond": BEYOND}[section]


#: What the paper shows in each target (default plot titles; the report's captions say more).
PAPER_TITLES = {
    "fig3a": "Fig. 3(a): NEU",
    "fig3b": "Fig. 3(b): dominant CIFAR-10 (mean of +[1], +[5], +[10])",
    "fig3c": "Fig. 3(c): CIFAR-100+[45:55]",
    "fig4a": "Fig. 4(a): rare CIFAR-10 (mean of -[1], -[5], -[10])",
    "fig4b": "Fig. 4(b): CIFAR-10",
    "fig4c": "Fig. 4(c): CIFAR-100",
    "fig5": "Fig. 5: top samples on CIFAR-10+[1]",
    "fig6": "Fig. 6: class-wise accuracy vs class-wise samples",
    "fig7a": "Fig. 7(a): budget sweep on dominant CIFAR-10",
    "fig7b": "Fig. 7(b): lambda sweep on dominant CIFAR-10",
    "fig8": "Fig. 8: CIFAR-10+[1] with ResNet-34",
    "fig9": "Fig. 9: share of rare classes in the labelled set",
    "fig10": "Fig. 10: budget sweep, full results",
    "fig11": "Fig. 11: lambda sweep including lambda = 0",
    "fig12": "Fig. 12: dominant variants of CIFAR-10",
    "fig13": "Fig. 13: rare variants of CIFAR-10",
    "fig14": "Fig. 14: individual trials, NEU",
    "fig15": "Fig. 15: individual trials, CIFAR-10+[1]",
    "fig16": "Fig. 16: individual trials, CIFAR-10+[5]",
    "fig17": "Fig. 17: individual trials, CIFAR-10+[10]",
    "fig18": "Fig. 18: individual trials, CIFAR-100+[45:55]",
    "fig19": "Fig. 19: individual trials, CIFAR-10-[1]",
    "fig20": "Fig. 20: individual trials, CIFAR-10-[5]",
    "fig21": "Fig. 21: individual trials, CIFAR-10-[10]",
    "fig22": "Fig. 22: individual trials, CIFAR-10",
    "fig23": "Fig. 23: individual trials, CIFAR-100",
    "vabal_diagnostics": "VaB-AL diagnostics: can the prior and the difficulty act?",
    "table1": "Table 1: prior and difficulty terms on and off",
    "table2": "Table 2: choices of w_n",
    "leaderboard": "Leaderboard: area under the accuracy-vs-labels curve",
    "summary": "Summary: accuracy per round, paired differences, selection shares",
    "readings": "VaB-AL's readings of Eq. 6 on stored rounds",
    "strength": "Classifier strength: each method's paired difference from Random per protocol",
}

SINGLE_DATASET = {"trials", "top_images", "class_scatter"}
#: legend text of VaB-AL's readings of Eq. 6 other than the default
READING_LABELS = {
    "standardised": "standardised",
    "per_feature": "per-feature likelihood",
    "literal": "literal Eq. 6",
    "authors": "authors' score",
}


def section(name: str) -> str:
    return "tables" if name in TABLES else "beyond" if name in BEYOND else "figures"


def configured(config: dict) -> list[str]:
    """Targets the config has an entry for, in the paper's order."""
    return [t for t in TARGETS if t in config.get(section(t), {})]


def entry(config: dict, name: str) -> dict:
    if name not in TARGETS:
        raise ConfigError(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    found = config.get(section(name), {}).get(name)
    if found is None:
        raise ConfigError(
            f"config error at {section(name)}.{name}: target {name} is not configured "
            f"(give it datasets and methods in the config's {section(name)} section)"
        )
    return found


def method_label(config: dict, method: str) -> str:
    """A legend label: the method's name in the paper, and for a VaB-AL variant the setting
    that makes it one (prior or difficulty off, lambda, w_n); other parameters (epochs, Monte
    Carlo samples) do not change what the method is and are left out."""
    from vabal.methods import REGISTRY

    m = config["methods"][method]
    defaults = REGISTRY[m["kind"]].params
    label = REGISTRY[m["kind"]].label
    changed = []
    for key, text in (
        ("prior", lambda v: "no prior"),
        ("difficulty", lambda v: "no difficulty"),
        ("lambda", lambda v: f"λ={v:g}"),
        ("w_type", lambda v: {"abs": "|z|", "sigmoid": "sigmoid(z)", "z2": "z²"}[v]),
        ("reading", lambda v: READING_LABELS[v]),
    ):
        if m["kind"] == "vabal" and key in m and m[key] != defaults[key]:
            changed.append(text(m[key]))
    return f"{label} ({', '.join(changed)})" if changed else label
