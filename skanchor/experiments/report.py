"""Tables from a results directory: every round as a data frame, Table 2 of the paper.

:func:`load_rounds` gives one row per round per run; :func:`summary_table` gives, for each
query strategy and classifier, one row per method with the median and interquartile range
across seeds of

- **Overall**: labelled items reached (``budget``), AUC of majority and minority F1 (one
  unit per round, the paper's AUC), minority items found (at the end, and averaged over the
  rounds: found sooner is more), total selection time (s);
- **Budget-matched**: the same AUCs up to the largest round that every run of the group
  reached (the paper's comparison when slow methods stop early at the time limit).

Random sampling (``random``) and the presets (``discovery``) bring their own strategy, so their
runs join every strategy's group: the table's ``group`` column names the comparison group, and
its ``strategy`` column the strategy each method ran (``minority_mix`` for ``discovery`` in the
``entropy`` group).

:func:`write_report` writes ``summary.csv``, ``summary.md`` and the plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skanchor.experiments.components import METHODS
from skanchor.experiments.metrics import common_round, median_iqr, run_summary
from skanchor.experiments.plots import plot_all
from skanchor.experiments.rounds import groups, load_rounds, method_order, results_dir

__all__ = ["format_table", "groups", "load_rounds", "summary_table", "write_report"]


def summary_table(rounds):
    """Table 2: one row per (group, classifier, method), medians and IQRs across seeds.

    ``group`` is the comparison group's query strategy; ``strategy`` is the one the method ran
    (its own for Random and the presets, else the group's)."""
    import pandas as pd

    rows = []
    for group, classifier, part in groups(rounds):
        per_run = {run_id: df.sort_values("round") for run_id, df in part.groupby("run_id")}
        matched = common_round([int(df["round"].max()) for df in per_run.values()])
        for method in method_order(part["method"]):
            runs = {k: v for k, v in per_run.items() if v["method"].iloc[0] == method}
            overall = [run_summary(df.to_dict("records")) for df in runs.values()]
            cut = [run_summary(df.to_dict("records"), upto=matched) for df in runs.values()]
            own = METHODS[method].strategy if method in METHODS else None
            row: dict[str, Any] = {
                "group": group,
                "strategy": own or group,
                "classifier": classifier,
                "method": method,
                "label": METHODS[method].label if method in METHODS else method,
                "runs": len(runs),
                "complete": sum(df["status"].iloc[0] == "complete" for df in runs.values()),
            }
            for key, values in (
                ("budget", [s["budget"] for s in overall]),
                ("auc_majority_f1", [s["auc_majority_f1"] for s in overall]),
                ("auc_minority_f1", [s["auc_minority_f1"] for s in overall]),
                ("minority_found", [s["minority_found"] for s in overall]),
                ("minority_found_mean", [s["minority_found_mean"] for s in overall]),
                ("selection_time", [s["selection_time"] for s in overall]),
                ("final_minority_f1", [s["final_minority_f1"] for s in overall]),
                ("final_majority_f1", [s["final_majority_f1"] for s in overall]),
                ("bm_auc_majority_f1", [s["auc_majority_f1"] for s in cut]),
                ("bm_auc_minority_f1", [s["auc_minority_f1"] for s in cut]),
                ("bm_minority_found", [s["minority_found"] for s in cut]),
            ):
                row[key], row[f"{key}_iqr"] = median_iqr(values)
            row["bm_round"] = matched
            row["bm_budget"] = int(np.median([s["budget"] for s in cut]))
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(value: float, iqr: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if digits == 0 and (value % 1 or iqr % 1):  # counts: a median of an even number of seeds
        digits = 1
    return f"{value:.{digits}f} ± {iqr:.{digits}f}"


def format_table(summary, fmt: str = "text") -> str:
    """Table 2 as aligned text (``"text"``) or GitHub markdown (``"markdown"``), one block
    per comparison group (strategy, classifier). Cells are ``median ± IQR`` across seeds."""
    if fmt not in ("text", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; valid: text, markdown")
    if summary.empty:
        return "no completed rounds yet"
    header = [
        "Method",
        "Runs",
        "Budget",
        "Majority AUC",
        "Minority AUC",
        "Minority found",
        "Found/round",
        "Time (s)",
        "BM labels",
        "BM Majority",
        "BM Minority",
    ]
    blocks = []
    for (group, classifier), part in summary.groupby(["group", "classifier"], sort=False):
        body = []
        for row in part.to_dict("records"):
            runs = f"{row['runs']}" + (
                "" if row["complete"] == row["runs"] else f" ({row['complete']} done)"
            )
            body.append(
                [
                    row["label"],
                    runs,
                    f"{row['budget']:.0f}",
                    _cell(row["auc_majority_f1"], row["auc_majority_f1_iqr"]),
                    _cell(row["auc_minority_f1"], row["auc_minority_f1_iqr"]),
                    _cell(row["minority_found"], row["minority_found_iqr"], 0),
                    _cell(row["minority_found_mean"], row["minority_found_mean_iqr"]),
                    _cell(row["selection_time"], row["selection_time_iqr"], 2),
                    f"{row['bm_budget']}",
                    _cell(row["bm_auc_majority_f1"], row["bm_auc_majority_f1_iqr"]),
                    _cell(row["bm_auc_minority_f1"], row["bm_auc_minority_f1_iqr"]),
                ]
            )
        title = f"strategy {group}, classifier {classifier}"
        own = [
            f"{r['label']}: {r['strategy']}"
            for r in part.to_dict("records")
            if r["strategy"] != group
        ]
        if own:  # Random and the presets run their own strategy in every group
            title += f" ({'; '.join(own)})"
        if fmt == "markdown":
            lines = [
                f"**{title}**",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
            lines += ["| " + " | ".join(r) + " |" for r in body]
        else:
            widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
            fmt_row = "  ".join(
                f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths)
            )
            lines = [title, fmt_row.format(*header), fmt_row.format(*["-" * w for w in widths])]
            lines += [fmt_row.format(*r) for r in body]
        blocks.append("\n".join(lines))
    note = (
        "Cells: median ± interquartile range across seeds. AUC: trapezoidal area under the "
        "F1 curve, one unit per round (F1 in [0, 1]). Found/round: minority items labelled, "
        "averaged over the rounds (higher when they are found with fewer labels). Time: total "
        "selection time. BM: budget-matched, up to the largest round every run reached."
    )
    return "\n\n".join(blocks) + "\n\n" + note


def write_report(path: str | Path, *, plots: bool = True, fmt: str = "text") -> dict[str, Any]:
    """Write ``summary.csv``, ``summary.md`` and (optionally) the plots into ``path``.

    ``fmt`` is the returned table's format: ``"text"``, ``"markdown"`` or ``"csv"``. The plots
    folder is rebuilt: figures of groups the results no longer hold are removed.

    Returns ``{"table": formatted table, "summary": DataFrame, "files": [written paths]}``.
    """
    if fmt not in ("text", "markdown", "csv"):  # before anything is written
        raise ValueError(f"unknown format {fmt!r}; valid: text, markdown, csv")
    results = results_dir(path)
    rounds = load_rounds(results.path)
    summary = summary_table(rounds)
    files: list[Path] = []
    if not summary.empty:
        summary.to_csv(results.path / "summary.csv", index=False)
        (results.path / "summary.md").write_text(format_table(summary, "markdown") + "\n")
        files += [results.path / "summary.csv", results.path / "summary.md"]
        if plots:
            files += plot_all(rounds, results.path / "plots")
            _remove_stale_plots(results.path / "plots", files)
    table = summary.to_csv(index=False) if fmt == "csv" else format_table(summary, fmt)
    return {
        "table": table,
        "summary": summary,
        "files": files,
        "rounds": rounds,
    }


def _remove_stale_plots(folder: Path, written: list[Path]) -> None:
    """Delete the figures under ``folder`` that this report did not write (groups that are
    gone), and then-empty group folders; nothing else is touched."""
    keep = {p.resolve() for p in written}
    for figure in folder.glob("*/*.png"):
        if figure.resolve() not in keep:
            figure.unlink()
    for group in folder.iterdir():
        if group.is_dir() and not any(group.iterdir()):
            group.rmdir()
