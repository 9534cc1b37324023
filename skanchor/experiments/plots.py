"""The paper's figures from the round table (matplotlib, written as PNG files).

Per comparison group (query strategy x classifier), in ``plots/<strategy>-<classifier>/``:

- ``minority_f1.png`` — minority F1 vs labelled items (the learning curve behind the AUC);
- ``majority_f1.png`` — majority F1 vs labelled items;
- ``minority_found.png`` — minority items in the labelled set vs labelled items (Fig. 3);
- ``subpool_minority_share.png`` — minority share of the subpool per round (Fig. 4, Fig. 2b);
- ``selection_time.png`` — instance-selection time per round (Fig. 2);
- ``subpool_size.png`` — subpool size per round (Fig. 2a);
- ``overview.png`` — all six panels in one figure.

Lines are medians across seeds, bands the interquartile range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skanchor.experiments.components import METHODS
from skanchor.experiments.rounds import groups, method_order

__all__ = ["PANELS", "plot_all", "plot_group"]

#: (file stem, column, x axis, y label, log y)
PANELS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("minority_f1", "minority_f1", "n_labelled", "minority F1", False),
    ("majority_f1", "majority_f1", "n_labelled", "majority F1", False),
    ("minority_found", "n_minority_labelled", "n_labelled", "minority items labelled", False),
    (
        "subpool_minority_share",
        "subpool_minority_share",
        "round",
        "minority share of subpool",
        False,
    ),
    ("selection_time", "time_selection", "round", "selection time (s)", True),
    ("subpool_size", "subpool_size", "round", "subpool size", True),
)

_X_LABELS = {"n_labelled": "labelled items", "round": "round"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _draw(ax: Any, part: Any, column: str, x: str, ylabel: str, log: bool) -> None:
    for method in method_order(part["method"]):
        rows = part[(part["method"] == method) & part[column].notna()]
        if rows.empty:
            continue
        stats = rows.groupby("round").agg(
            x=(x, "median"),
            mid=(column, "median"),
            lo=(column, lambda v: np.percentile(v.astype(float), 25)),
            hi=(column, lambda v: np.percentile(v.astype(float), 75)),
        )
        label = METHODS[method].label if method in METHODS else method
        # Medians over every run while all of them have the round; past the last round they
        # all reached (a time limit, a run still going), the line is dashed and has no band:
        # it is the median of the runs left, which may jump as runs drop out.
        if "run_id" in rows:
            every = rows.groupby("round")["run_id"].nunique().to_numpy() == rows["run_id"].nunique()
        else:  # a table of one run
            every = np.ones(len(stats), dtype=bool)
        last = int(np.flatnonzero(every)[-1]) if every.any() else -1
        partial = last < len(stats) - 1
        if partial:
            label = f"{label} (dashed: not every run)"
        full = stats.iloc[: last + 1]
        (line,) = ax.plot(full["x"], full["mid"], label=label, linewidth=1.6)
        ax.fill_between(full["x"], full["lo"], full["hi"], color=line.get_color(), alpha=0.2)
        if partial:
            tail = stats.iloc[max(last, 0) :]
            ax.plot(
                tail["x"],
                tail["mid"],
                linestyle="--",
                color=line.get_color(),
                linewidth=1.2,
                label=None if last >= 0 else label,
            )
    ax.set_xlabel(_X_LABELS.get(x, x))
    if x in _X_LABELS:  # rounds and labels are counts: whole-number ticks only
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    if log and (part[column].dropna().astype(float) > 0).any():
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)


def plot_group(part: Any, out_dir: str | Path, title: str = "") -> list[Path]:
    """Write the figures of one comparison group into ``out_dir``; returns the paths."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, column, x, ylabel, log in PANELS:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        _draw(ax, part, column, x, ylabel, log)
        ax.set_title(f"{title}: {ylabel}" if title else ylabel, fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{stem}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (_, column, x, ylabel, log) in zip(axes.ravel(), PANELS, strict=True):
        _draw(ax, part, column, x, ylabel, log)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = out_dir / "overview.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def plot_all(rounds: Any, out_dir: str | Path) -> list[Path]:
    """Figures for every comparison group of a round table
    (:func:`~skanchor.experiments.rounds.groups`)."""
    written: list[Path] = []
    for strategy, classifier, part in groups(rounds):
        written += plot_group(
            part, Path(out_dir) / f"{strategy}-{classifier}", f"{strategy}, {classifier}"
        )
    return written
