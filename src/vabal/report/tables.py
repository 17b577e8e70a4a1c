"""The tidy per-round table, and the paper's tables built from it.

``results/tables/rounds.parquet``: one row per (dataset, method, seed, round) with
n_labelled, accuracy, balanced_accuracy, list columns per_class_accuracy,
labelled_per_class, class_names, train_seconds, platform (where the round's classifier was
trained and evaluated: :func:`~vabal.report.provenance.platform`), and the provenance
columns code_version and config_sha256
(:mod:`vabal.report.provenance`). Each figure and table reads the ``metrics.json`` of exactly the
rounds it needs into the same frame (:func:`rounds_frame`), so redrawing one touches no
other and trains nothing.

Tables 1 and 2 of the paper (:func:`method_table`): one row per VaB-AL variant, per dataset
the accuracy averaged over all rounds ("avg.") and of the last round ("final"), in percent,
mean (and std) over seeds, beside the numbers the paper reports.
"""

from __future__ import annotations

from pathlib import Path

from vabal import io, layout
from vabal.errors import DataError

ROUNDS_COLUMNS = [
    "dataset",
    "method",
    "seed",
    "round",
    "n_labelled",
    "accuracy",
    "balanced_accuracy",
    "evaluated_on",
    "n_eval",
    "per_class_accuracy",
    "labelled_per_class",
    "class_names",
    "train_seconds",
    "platform",
]


def rounds_frame(metric_paths):
    """Every round's metrics.json as one frame (the rows of rounds.parquet)."""
    import pandas as pd

    from vabal.report.provenance import platform_line

    rows = []
    for path in map(str, metric_paths):
        ids = layout.parse_round(path)
        if ids is None or Path(path).name != "metrics.json":
            raise DataError(f"{path}: not a round metrics path (runs/<d>/<m>/seed<s>/round<r>/)")
        metrics = io.read_json(path)
        row = {**ids, **{k: metrics.get(k) for k in ROUNDS_COLUMNS[4:]}}
        row["platform"] = platform_line(metrics.get("platform"))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=ROUNDS_COLUMNS)
    frame["seed"] = frame["seed"].astype("int64")
    frame["round"] = frame["round"].astype("int64")
    return frame.sort_values(["dataset", "method", "seed", "round"]).reset_index(drop=True)


def collect_rounds(metric_paths, out, prov: dict | None = None) -> None:
    """Gather every round's metrics.json into one Parquet table, with provenance columns."""
    from vabal.report.provenance import add_columns

    io.write_parquet(out, add_columns(rounds_frame(metric_paths), prov))


def read_rounds(path):
    return io.read_table(path, "rounds")


def target_rounds(path, spec: dict):
    """The rows of ``rounds.parquet`` that target ``spec`` draws: every round of each of its
    runs (``spec["runs"]``: dataset, method, seed), all of them there or one error naming
    what is missing (a table written under other run filters, or before a run finished)."""
    rounds = read_rounds(path)
    runs = {(d, m, int(s)) for d, m, s in spec["runs"]}
    keys = list(zip(rounds["dataset"], rounds["method"], rounds["seed"], strict=True))
    frame = rounds[[k in runs for k in keys]].reset_index(drop=True)
    have = frame.groupby(["dataset", "method", "seed"]).size().to_dict()
    missing = sorted(
        f"{d}/{m}/seed{s}" for d, m, s in runs if have.get((d, m, s), 0) != spec["rounds"][d]
    )
    if missing:
        raise DataError(f"{path}: {spec['name']} needs every round of {', '.join(missing)}")
    return frame


def write_table(path: str | Path, frame, prov: dict | None = None) -> None:
    """Write a figure's data beside it: CSV or Parquet by suffix, with provenance columns."""
    from vabal.report.provenance import add_columns

    path = Path(path)
    frame = add_columns(frame, prov)
    if path.suffix == ".csv":
        with io.atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    else:
        io.write_parquet(path, frame)


# ----------------------------------------------------------------------------- paper tables
#: The paper's Table 1: (prior, difficulty) -> CIFAR-10 avg, final, CIFAR-10+[1] avg, final (%).
PAPER_TABLE1 = {
    "columns": ["CIFAR-10", "CIFAR-10+[1]"],
    "key": ("prior", "difficulty"),
    "rows": {
        (False, False): [82.06, 88.86, 48.22, 60.56],
        (True, False): [82.92, 90.15, 54.54, 70.19],
        (False, True): [82.68, 90.02, 51.92, 66.25],
        (True, True): [82.96, 90.35, 54.77, 70.71],
    },
}
#: The paper's Table 2: w_n type -> avg, final on CIFAR-10+[1], +[5], +[10] (%).
PAPER_TABLE2 = {
    "columns": ["CIFAR-10+[1]", "CIFAR-10+[5]", "CIFAR-10+[10]"],
    "key": ("w_type",),
    "rows": {
        ("sigmoid",): [41.78, 50.73, 40.49, 48.54, 41.69, 49.57],
        ("abs",): [45.00, 57.96, 44.40, 55.41, 44.31, 55.28],
        ("z2",): [54.77, 70.71, 55.66, 72.02, 56.77, 70.53],
    },
}
PAPER_TABLES = {"table1": PAPER_TABLE1, "table2": PAPER_TABLE2}
ROW_LABELS = {
    "prior": lambda v: "✓" if v else "-",
    "difficulty": lambda v: "✓" if v else "-",
    "w_type": lambda v: {"z2": "z²", "abs": "|z|", "sigmoid": "sigmoid(z)"}[v],
}
ROW_HEADERS = {"prior": "p(ŷ)", "difficulty": "p(y|ŷ)", "w_type": "w_n"}


def method_table(rounds, name: str, datasets, methods, params: dict):
    """Table 1 or 2 of the paper: one row per method (in the given order), per dataset the
    avg. (over all rounds) and final accuracy in percent, mean and std over seeds, and the
    paper's numbers for the row's setting (the i-th dataset beside the paper's i-th column).

    ``params``: each method's resolved VaB-AL parameters (prior, difficulty, w_type, ...).
    """
    import numpy as np
    import pandas as pd

    from vabal.report.analysis import method_summary, require

    paper = PAPER_TABLES[name]
    frame = rounds[rounds["dataset"].isin(datasets) & rounds["method"].isin(methods)]
    require(frame, datasets, methods, name)
    summary = method_summary(frame, datasets, methods).set_index(["dataset", "method"])
    rows = []
    for m in methods:
        key = tuple(params[m][k] for k in paper["key"])
        row = {"method": m, **{k: params[m][k] for k in paper["key"]}}
        ref = paper["rows"].get(key)
        for i, d in enumerate(datasets):
            s = summary.loc[(d, m)]
            row[f"{d} avg"] = 100 * s["avg_mean"]
            row[f"{d} final"] = 100 * s["final_mean"]
            row[f"{d} avg std"] = 100 * s["avg_std"]
            row[f"{d} final std"] = 100 * s["final_std"]
            row[f"{d} seeds"] = int(s["runs"])
            if i < len(paper["columns"]):
                col = paper["columns"][i]
                row[f"paper {col} avg"] = ref[2 * i] if ref else np.nan
                row[f"paper {col} final"] = ref[2 * i + 1] if ref else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def table_markdown(table, name: str, datasets, title: str, prov: dict | None = None) -> str:
    """The table as GitHub Markdown: ours (mean ± std over seeds) and the paper's numbers."""
    keys, header = _table_layout(table, name, datasets)

    def cells(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    lines = [f"**{title}**", "", cells(header), "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        lines.append(cells(_cells(row, keys, datasets, name, "±")))
    lines += ["", _footer(table, datasets, prov)]
    return "\n".join(lines) + "\n"


def table_latex(table, name: str, datasets, title: str, prov: dict | None = None) -> str:
    """The table as a LaTeX tabular (booktabs), ours then the paper's numbers in brackets."""
    keys, header = _table_layout(table, name, datasets)
    esc = {"|": "$|$", "²": "$^2$", "±": "$\\pm$", "✓": "\\checkmark", "ŷ": "$\\hat{y}$"}

    def tex(text: str) -> str:
        text = str(text).replace("_", "\\_").replace("%", "\\%").replace("[", "{[}")
        text = text.replace("]", "{]}")
        for a, b in esc.items():
            text = text.replace(a, b)
        return text

    lines = [
        f"% {title}",
        f"% {_footer(table, datasets, prov)}",
        "\\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
        "\\toprule",
        " & ".join(tex(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for _, row in table.iterrows():
        lines.append(" & ".join(tex(c) for c in _cells(row, keys, datasets, name, "±")) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def table_html(table, name: str, datasets, title: str, prov: dict | None = None) -> str:
    """The table as a small HTML page (what the report shows)."""
    import html

    keys, header = _table_layout(table, name, datasets)
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = [f"<tr>{cells}</tr>"]
    for _, row in table.iterrows():
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(row, keys, datasets, name, "±"))
        body.append(f"<tr>{tds}</tr>")
    style = (
        "table{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:center}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
        f"<p><b>{html.escape(title)}</b></p><table>{''.join(body)}</table>"
        f"<p>{html.escape(_footer(table, datasets, prov))}</p></body></html>\n"
    )


def _table_layout(table, name, datasets):
    keys = PAPER_TABLES[name]["key"]
    header = ["method", *(ROW_HEADERS[k] for k in keys)]
    for i, d in enumerate(datasets):
        paper = _paper_column(name, i)
        suffix = f" (paper {paper})" if paper else ""
        header += [f"{d} avg.{suffix}", f"{d} final{suffix}"]
    return keys, header


def _paper_column(name, i):
    cols = PAPER_TABLES[name]["columns"]
    return cols[i] if i < len(cols) else None


def _cells(row, keys, datasets, name, pm):
    import math

    out = [str(row["method"]), *(ROW_LABELS[k](row[k]) for k in keys)]
    for i, d in enumerate(datasets):
        paper = _paper_column(name, i)
        for part in ("avg", "final"):
            mean, std = row[f"{d} {part}"], row[f"{d} {part} std"]
            text = f"{mean:.2f}%" + (f" {pm} {std:.2f}" if not math.isnan(std) else "")
            if paper is not None:
                ref = row[f"paper {paper} {part}"]
                text += f" [{ref:.2f}%]" if not math.isnan(ref) else " [—]"
            out.append(text)
    return out


def _footer(table, datasets, prov):
    seeds = sorted({int(table[f"{d} seeds"].min()) for d in datasets})
    text = (
        f"Ours: mean ± std over {'/'.join(map(str, seeds))} seed(s); [paper's reported value]. "
        "avg. = accuracy averaged over all rounds, final = last round."
    )
    if prov:
        text += f" code {prov['code_version']}, config sha256 {prov['config_sha256'][:12]}."
    return text


def write_method_table(out: dict, rounds, spec: dict, prov: dict | None = None):
    """Write a paper table as CSV (with provenance columns), Markdown, LaTeX and HTML."""
    table = method_table(rounds, spec["name"], spec["datasets"], spec["methods"], spec["params"])
    write_table(out["csv"], table, prov)
    args = (table, spec["name"], spec["datasets"], spec["title"], prov)
    for ext, render in (("md", table_markdown), ("tex", table_latex), ("html", table_html)):
        with io.atomic_path(out[ext]) as tmp:
            tmp.write_text(render(*args))
    return table
