"""Label efficiency: the area under each run's learning curve, and a leaderboard of methods.

A run's label efficiency is summarised by its AUBC (area under the budget curve): the area
under accuracy against the number of labelled samples, by the trapezoid rule, divided by
the range of labels the run covers, so that it reads as the curve's mean accuracy per label
(a flat curve at ``a`` scores ``a``). Unlike the paper's "avg." (the mean over rounds), it
weights each round by the labels between it and its neighbours, so uneven label steps are
counted as they were spent.

The leaderboard (:func:`leaderboard`) has one row per (dataset, method): AUBC mean and std
over seeds with a 95 % t interval, the final accuracy, the rank by mean AUBC within the
dataset, and per reference method (Random, VaB-AL: the config's choice) the paired
difference in AUBC over the seeds both have, with its t interval and paired t-test p-value
(:func:`paired_test`). :func:`write_leaderboard` writes it as CSV (with provenance columns),
Markdown and HTML, and draws the figure (per dataset one panel, AUBC mean with its 95 %
interval per method) with the numbers it plots beside it. Accuracies stay fractions in the
frames; the rendered tables and the figure are in percent (differences in percentage points).
"""

from __future__ import annotations

import math

import numpy as np

from vabal import io
from vabal.errors import DataError
from vabal.report.tables import write_table

#: The confidence level of every interval, unless a spec says otherwise.
LEVEL = 0.95
#: Differences whose spread is below this (relative to their size) count as constant.
_CONSTANT_TOL = 1e-12
#: The files :func:`write_leaderboard` can write (keys of its ``out``).
OUTPUTS = ("csv", "md", "html", "png", "data", "runs")


# ----------------------------------------------------------------------------- scores
def aubc(n_labelled, accuracy) -> float:
    """Area under accuracy against labelled samples (trapezoid rule, points sorted by
    ``n_labelled``) divided by the label range ``max - min``. One point, or several at the
    same number of labels, scores their mean accuracy."""
    x = np.asarray(n_labelled, dtype=float).ravel()
    y = np.asarray(accuracy, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"aubc: {x.size} label counts but {y.size} accuracies")
    if x.size == 0:
        raise ValueError("aubc: no points")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    width = x[-1] - x[0]
    if width == 0:
        return float(y.mean())
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
    return area / float(width)


def run_scores(rounds):
    """Per run (dataset, method, seed): its AUBC, final accuracy (last round), number of
    rounds and the labels its curve spans (``n_labelled_min``, ``n_labelled_max``)."""
    import pandas as pd

    frame = rounds.sort_values(["dataset", "method", "seed", "round"], kind="stable")
    rows = []
    for (d, m, s), run in frame.groupby(["dataset", "method", "seed"], sort=False):
        n = run["n_labelled"].to_numpy(dtype=float)
        acc = run["accuracy"].to_numpy(dtype=float)
        rows.append(
            {
                "dataset": d,
                "method": m,
                "seed": int(s),
                "aubc": aubc(n, acc),
                "final": float(acc[-1]),
                "rounds": len(run),
                "n_labelled_min": int(n.min()),
                "n_labelled_max": int(n.max()),
            }
        )
    columns = ["dataset", "method", "seed", "aubc", "final", "rounds"]
    return pd.DataFrame(rows, columns=[*columns, "n_labelled_min", "n_labelled_max"])


# ----------------------------------------------------------------------------- statistics
def mean_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its two-sided t interval at ``level``
    (``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)``). Fewer than two values: no interval
    (NaN bounds); all values equal: the interval is the point."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    if _constant(v):
        return mean, mean, mean
    return (mean, *moments_interval(mean, float(v.std(ddof=1)), v.size, level))


def moments_interval(mean: float, std: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """(low, high): the two-sided t interval at ``level`` of a mean of ``n`` values with
    sample standard deviation ``std`` (NaN bounds for fewer than two values)."""
    from scipy import stats

    if n < 2 or math.isnan(std):
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))
    return mean - half, mean + half


def _constant(v) -> bool:
    return float(np.ptp(v)) <= _CONSTANT_TOL * max(1.0, float(np.abs(v).max()))


def paired_test(diff, level: float = LEVEL) -> dict:
    """The paired comparison of one method with a reference from their per-seed differences
    (method minus reference, one value per seed both have).

    Returns ``seeds`` (number of pairs), ``mean``, ``ci_low`` / ``ci_high`` (t interval at
    ``level``), ``t`` and ``p`` (two-sided paired t-test, ``n - 1`` degrees of freedom) and
    ``ahead`` (seeds where the method scores higher).

    Why the t-test: the runs of one seed share the initial labelled set and every random
    choice made before the methods differ, so the seeds pair the runs, and a study has 3-5
    seeds. With so few pairs a rank test cannot detect anything: the Wilcoxon signed-rank
    test's smallest two-sided p is ``2 / 2**n`` (0.25 with 3 pairs, 0.0625 with 5), whatever
    the differences. The t-test uses their size, at the price of assuming they are roughly
    normal; its interval and its p agree (p < 1 - level exactly when the interval excludes
    0). ``ahead`` is reported beside it as the distribution-free count.

    Edge cases, none of which warns: no pairs gives NaN everywhere; one pair gives its
    difference with no interval, t or p (NaN); differences that are all equal have no
    spread, so the interval is the point and t is undefined: p = 1 when they are all 0
    (the two methods agree seed by seed), otherwise NaN (no spread to test against).
    """
    from scipy import stats

    d = np.asarray(diff, dtype=float).ravel()
    n = int(d.size)
    out = {
        "seeds": n,
        "mean": float(d.mean()) if n else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "t": math.nan,
        "p": math.nan,
        "ahead": int((d > 0).sum()),
    }
    if n < 2:
        return out
    mean, out["ci_low"], out["ci_high"] = mean_interval(d, level)
    if _constant(d):
        zero = abs(mean) <= _CONSTANT_TOL * max(1.0, float(np.abs(d).max()))
        out.update(t=0.0 if zero else math.nan, p=1.0 if zero else math.nan)
        return out
    t = mean / (float(d.std(ddof=1)) / math.sqrt(n))
    out["t"] = t
    out["p"] = float(2.0 * stats.t.sf(abs(t), n - 1))
    return out


def paired_scores(runs, dataset: str, methods, reference: str, score="aubc", level=LEVEL):
    """Per method, the paired comparison (:func:`paired_test`) of its ``score`` column
    ("aubc" or "final") of :func:`run_scores` with ``reference``'s on ``dataset``, over the
    seeds both have (a method lacking some of the reference's seeds is paired on the rest)."""
    import pandas as pd

    frame = runs[runs["dataset"] == dataset]
    base = frame[frame["method"] == reference].set_index("seed")[score]
    rows = []
    for method in methods:
        mine = frame[frame["method"] == method].set_index("seed")[score]
        seeds = sorted(set(mine.index) & set(base.index))
        diff = mine.loc[seeds].to_numpy(dtype=float) - base.loc[seeds].to_numpy(dtype=float)
        rows.append(
            {"dataset": dataset, "method": method, "reference": reference}
            | paired_test(diff, level)
        )
    columns = ["dataset", "method", "reference", "seeds", "mean", "ci_low", "ci_high", "t"]
    return pd.DataFrame(rows, columns=[*columns, "p", "ahead"])


# ----------------------------------------------------------------------------- the board
def _methods(methods, references) -> list:
    """The board's methods: ``methods`` in order, then any reference not among them."""
    return list(dict.fromkeys([*methods, *references]))


def check_rounds(rounds, datasets, methods, references) -> None:
    """One DataError naming every (dataset, method) without rounds, references first."""
    have = set(zip(rounds["dataset"], rounds["method"], strict=True))
    problems = []
    for kind, names in (("reference method", references), ("method", methods)):
        for d in datasets:
            missing = [m for m in names if (d, m) not in have]
            if kind == "method":
                missing = [m for m in missing if m not in references]
            if missing:
                problems.append(f"dataset {d!r} has no rounds of {kind}(s) {missing}")
    if problems:
        raise DataError("leaderboard: " + "; ".join(problems))


def delta_prefix(reference: str) -> str:
    """Prefix of the board's columns comparing with ``reference``."""
    return f"d_aubc_vs_{reference}"


def leaderboard(rounds, datasets, methods, references=(), level: float = LEVEL):
    """One row per (dataset, method), datasets in the given order, methods by rank (ties in
    the given order): ``seeds``, ``aubc_mean``, ``aubc_std``, ``aubc_ci_low``,
    ``aubc_ci_high``, ``final_mean``, ``final_std``, the labels the runs span, ``rank``
    (1 = highest mean AUBC in the dataset; equal means share the better rank),
    ``reference`` (whether the method is one of ``references``) and per reference ``r`` the
    columns ``d_aubc_vs_<r>_{mean, ci_low, ci_high, p, seeds, ahead}``
    (:func:`paired_test`). References not in ``methods`` are added after them."""
    import pandas as pd

    references = list(references)
    methods = _methods(methods, references)
    frame = rounds[rounds["dataset"].isin(list(datasets)) & rounds["method"].isin(methods)]
    check_rounds(frame, datasets, methods, references)
    runs = run_scores(frame)
    parts = []
    for d in datasets:
        block = runs[runs["dataset"] == d]
        rows = []
        for m in methods:
            mine = block[block["method"] == m]
            mean, low, high = mean_interval(mine["aubc"], level)
            rows.append(
                {
                    "dataset": d,
                    "method": m,
                    "reference": m in references,
                    "seeds": len(mine),
                    "aubc_mean": mean,
                    "aubc_std": _std(mine["aubc"]),
                    "aubc_ci_low": low,
                    "aubc_ci_high": high,
                    "final_mean": float(mine["final"].mean()),
                    "final_std": _std(mine["final"]),
                    "n_labelled_min": int(mine["n_labelled_min"].min()),
                    "n_labelled_max": int(mine["n_labelled_max"].max()),
                }
            )
        table = pd.DataFrame(rows)
        for ref in references:
            pairs = paired_scores(block, d, methods, ref, "aubc", level)
            prefix = delta_prefix(ref)
            for col in ("mean", "ci_low", "ci_high", "p", "seeds", "ahead"):
                table[f"{prefix}_{col}"] = pairs[col].to_numpy()
        table.insert(4, "rank", _rank(table["aubc_mean"]))
        table["order"] = range(len(table))
        parts.append(table.sort_values(["rank", "order"], kind="stable").drop(columns="order"))
    return pd.concat(parts, ignore_index=True)


def _std(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1)) if v.size > 1 else math.nan


def _rank(means):
    """1 for the highest mean; equal means share the better rank (competition ranking)."""
    return means.rank(method="min", ascending=False).astype(int).to_numpy()


# ----------------------------------------------------------------------------- rendering
def _pct(value, signed=False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def _p(value) -> str:
    if math.isnan(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _interval(low, high, signed=False, brackets=False) -> str:
    if math.isnan(low):
        return "[n/a]" if brackets else "n/a"
    return f"[{_pct(low, signed)}, {_pct(high, signed)}]"


def _delta_cell(row, ref) -> str:
    if row["method"] == ref:
        return "reference"
    prefix = delta_prefix(ref)
    n = int(row[f"{prefix}_seeds"])
    if n == 0:
        return "n/a (no common seeds)"
    mean = _pct(row[f"{prefix}_mean"], signed=True)
    ci = _interval(row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"], True, True)
    ahead = int(row[f"{prefix}_ahead"])
    return f"{mean} {ci}, p {_p(row[f'{prefix}_p'])}, ahead {ahead}/{n}"


def _header(references, labels) -> list:
    refs = [f"Δ AUBC vs {labels.get(r, r)} (pp)" for r in references]
    return ["rank", "method", "AUBC (%)", "95 % CI", "final (%)", *refs, "seeds"]


def _row_cells(row, references, labels) -> list:
    aubc_text = _pct(row["aubc_mean"])
    if not math.isnan(row["aubc_std"]):
        aubc_text += f" ± {_pct(row['aubc_std'])}"
    final_text = _pct(row["final_mean"])
    if not math.isnan(row["final_std"]):
        final_text += f" ± {_pct(row['final_std'])}"
    name = labels.get(row["method"], row["method"]) + (" (ref.)" if row["reference"] else "")
    return [
        str(int(row["rank"])),
        name,
        aubc_text,
        _interval(row["aubc_ci_low"], row["aubc_ci_high"]),
        final_text,
        *(_delta_cell(row, r) for r in references),
        str(int(row["seeds"])),
    ]


def _footer(board, level, prov) -> str:
    seeds = sorted({int(s) for s in board["seeds"]})
    pct = f"{100 * level:g} %"
    text = (
        "AUBC: area under accuracy against the number of labelled samples (trapezoid rule) "
        "divided by the label range (beside each dataset), i.e. the curve's mean accuracy "
        f"per label; mean ± std over {'/'.join(map(str, seeds))} seed(s), {pct} t interval; "
        "final: accuracy of the last round. Δ AUBC: method minus reference, paired by seed "
        f"over the seeds both have, mean in percentage points [{pct} t interval], two-sided "
        "paired t-test p, seeds ahead / seeds paired. n/a: one seed (no interval or test). "
        "rank: by mean AUBC within the dataset."
    )
    if prov:
        text += f" code {prov['code_version']}, config sha256 {prov['config_sha256'][:12]}."
    return text


def _caption(board, d) -> str:
    """A dataset's name and the labels its runs span."""
    block = board[board["dataset"] == d]
    lo, hi = int(block["n_labelled_min"].min()), int(block["n_labelled_max"].max())
    return f"{d} ({lo}-{hi} labels)"


def _spec(spec: dict) -> dict:
    """``spec`` with its optional keys filled: methods with the references added, labels,
    colours (by place in ``methods`` when the spec has none), title and level."""
    references = list(spec.get("references", []))
    methods = _methods(spec["methods"], references)
    full = {**spec, "methods": methods, "references": references}
    full["labels"] = {m: (spec.get("labels") or {}).get(m, m) for m in methods}
    colors = dict(spec.get("colors") or {})
    full["colors"] = {m: colors.get(m, i) for i, m in enumerate(methods)}
    full.setdefault("title", "Label efficiency (AUBC)")
    full.setdefault("level", LEVEL)
    return full


def leaderboard_markdown(board, spec: dict, prov: dict | None = None) -> str:
    """The board as GitHub Markdown: per dataset one table, rows by rank."""
    spec = _spec(spec)
    refs, labels = spec["references"], spec["labels"]
    header = _header(refs, labels)

    def cells(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    lines = [f"**{spec['title']}**", ""]
    for d in dict.fromkeys(board["dataset"]):
        lines += [f"*{_caption(board, d)}*", "", cells(header), "|" + "---|" * len(header)]
        for _, row in board[board["dataset"] == d].iterrows():
            lines.append(cells(_row_cells(row, refs, labels)))
        lines.append("")
    lines.append(_footer(board, spec["level"], prov))
    return "\n".join(lines) + "\n"


def leaderboard_html(board, spec: dict, prov: dict | None = None) -> str:
    """The board as a small HTML page: per dataset one table, rows by rank."""
    import html

    spec = _spec(spec)
    refs, labels = spec["references"], spec["labels"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _header(refs, labels))
    parts = []
    for d in dict.fromkeys(board["dataset"]):
        body = [f"<tr>{head}</tr>"]
        for _, row in board[board["dataset"] == d].iterrows():
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in _row_cells(row, refs, labels))
            body.append(f"<tr>{tds}</tr>")
        parts.append(f"<h4>{html.escape(_caption(board, d))}</h4><table>{''.join(body)}</table>")
    style = (
        "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:center}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
        f"<p><b>{html.escape(spec['title'])}</b></p>{''.join(parts)}"
        f"<p>{html.escape(_footer(board, spec['level'], prov))}</p></body></html>\n"
    )


# ----------------------------------------------------------------------------- figure
FIGURE_COLUMNS = ["dataset", "method", "label", "reference", "rank", "seeds"]


def figure_points(board, spec: dict):
    """The numbers the figure plots: per (dataset, method) its mean AUBC and interval."""
    spec = _spec(spec)
    data = board.copy()
    data["label"] = data["method"].map(spec["labels"])
    cols = [*FIGURE_COLUMNS, "aubc_mean", "aubc_ci_low", "aubc_ci_high"]
    return data[cols].reset_index(drop=True)


def leaderboard_figure(data, spec: dict, out_png) -> None:
    """Per dataset one panel: each method's mean AUBC (%) with its interval as error bar,
    best at the top; reference methods drawn as open diamonds, with a dotted line at their
    mean and their name in bold."""
    from vabal.report.plots import _colors, _grid, _pyplot, _save, _suptitle, _wrap

    spec = _spec(spec)
    plt = _pyplot()
    colors = _colors(spec)
    datasets = list(dict.fromkeys(data["dataset"]))
    n_methods = max(int((data["dataset"] == d).sum()) for d in datasets)
    fig, axes = _grid(plt, len(datasets), size=(4.6, 1.0 + 0.32 * n_methods))
    titles = spec.get("panel_titles") or {}
    for ax, d in zip(axes, datasets, strict=True):
        block = data[data["dataset"] == d].sort_values("aubc_mean", ascending=False, kind="stable")
        ys = np.arange(len(block))[::-1]
        for y, (_, row) in zip(ys, block.iterrows(), strict=True):
            mean = 100 * row["aubc_mean"]
            lo, hi = 100 * row["aubc_ci_low"], 100 * row["aubc_ci_high"]
            err = [[0.0], [0.0]] if math.isnan(lo) else [[mean - lo], [hi - mean]]
            ref = bool(row["reference"])
            color = colors[row["method"]]
            ax.errorbar(
                [mean],
                [y],
                xerr=err,
                fmt="D" if ref else "o",
                ms=5,
                capsize=3,
                color=color,
                mfc="white" if ref else color,
            )
            if ref:
                ax.axvline(mean, ls=":", lw=1, color=color)
        ax.set_yticks(ys, list(block["label"]))
        for tick, ref in zip(ax.get_yticklabels(), block["reference"], strict=True):
            tick.set_fontweight("bold" if ref else "normal")
        ax.set_ylim(-0.6, len(block) - 0.4)
        level = f"{100 * spec['level']:g} %"
        ax.set_xlabel(f"AUBC (%), mean and {level} CI over seeds")
        seeds = "/".join(str(int(n)) for n in sorted(set(block["seeds"])))
        ax.set_title(_wrap(f"{titles.get(d, d)} ({seeds} seed(s))"), fontsize=9)
    _suptitle(fig, spec["title"])
    _save(fig, out_png)


# ----------------------------------------------------------------------------- entry
def write_leaderboard(rounds, spec: dict, out: dict, prov: dict | None = None):
    """Compute the leaderboard of ``spec`` (``datasets``, ``methods``, ``references``;
    optional ``labels``, ``colors``, ``title``, ``panel_titles``, ``level``) from
    ``rounds`` and write the files named in ``out``: "csv" (the board, with provenance
    columns), "md" and "html" (the rendered tables, with a provenance footer), "png" (the
    figure), "data" (the numbers the figure plots, CSV or Parquet by suffix) and "runs"
    (each run's AUBC and final accuracy). Every file is written atomically. Returns the
    board."""
    unknown = sorted(set(out) - set(OUTPUTS))
    if unknown:
        raise ValueError(f"write_leaderboard: unknown outputs {unknown} (known: {OUTPUTS})")
    spec = _spec(spec)
    board = leaderboard(
        rounds, spec["datasets"], spec["methods"], spec["references"], spec["level"]
    )
    if "csv" in out:
        write_table(out["csv"], board, prov)
    for key, render in (("md", leaderboard_markdown), ("html", leaderboard_html)):
        if key in out:
            with io.atomic_path(out[key]) as tmp:
                tmp.write_text(render(board, spec, prov))
    if "png" in out or "data" in out:
        points = figure_points(board, spec)
        if "png" in out:
            leaderboard_figure(points, spec, out["png"])
        if "data" in out:
            write_table(out["data"], points, prov)
    if "runs" in out:
        frame = rounds[
            rounds["dataset"].isin(spec["datasets"]) & rounds["method"].isin(spec["methods"])
        ]
        write_table(out["runs"], run_scores(frame), prov)
    return board
