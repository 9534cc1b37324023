"""The paper's metrics: per-round scores, learning-curve areas, and robust summaries (§4).

- per round: F1 macro-averaged over the minority classes, F1 over the majority class(es),
  accuracy, and the F1 of every class;
- per run: the area under a learning curve by the trapezoidal rule with one unit per round
  (``numpy.trapezoid`` with ``dx=1``: the paper's AUC, so a run of T rounds with F1 = 1
  throughout scores T), optionally cut at a common round (Table 2's "Budget-Matched");
- across seeds: median and interquartile range.

>>> minority_f1(["a", "b", "b", "c"], ["a", "b", "c", "c"], ["a", "b"])
0.8333333333333333
>>> auc([0.0, 0.5, 1.0])
1.0
>>> median_iqr([1.0, 2.0, 3.0, 4.0])
(2.5, 1.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

__all__ = [
    "auc",
    "classification_metrics",
    "common_round",
    "majority_f1",
    "median_iqr",
    "minority_f1",
    "run_summary",
]


def _labels(values: Any) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def minority_f1(y_true: Any, y_pred: Any, minority: Sequence[str]) -> float:
    """F1 macro-averaged over the ``minority`` classes (0 for a class never predicted)."""
    return float(
        f1_score(
            _labels(y_true),
            _labels(y_pred),
            labels=list(minority),
            average="macro",
            zero_division=0,
        )
    )


def majority_f1(y_true: Any, y_pred: Any, majority: Sequence[str]) -> float:
    """F1 macro-averaged over the majority class(es)."""
    return minority_f1(y_true, y_pred, majority)


def classification_metrics(
    y_true: Any, y_pred: Any, minority: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """``minority_f1``, ``majority_f1``, ``accuracy`` and ``f1_per_class`` of one evaluation."""
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    majority = [c for c in classes if c not in minority]
    per_class = f1_score(y_true, y_pred, labels=list(classes), average=None, zero_division=0)
    return {
        "minority_f1": minority_f1(y_true, y_pred, minority),
        "majority_f1": majority_f1(y_true, y_pred, majority),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_per_class": {c: float(v) for c, v in zip(classes, per_class, strict=True)},
    }


def auc(values: Any, upto: int | None = None) -> float:
    """Trapezoidal area under a per-round curve, one unit per round (the paper's AUC).

    ``upto`` keeps rounds ``0 .. upto`` only (the budget-matched area). One point has area 0.
    """
    y = np.asarray(values, dtype=np.float64)
    if upto is not None:
        y = y[: upto + 1]
    if y.size < 2:
        return 0.0
    return float(np.trapezoid(y, dx=1.0))


def median_iqr(values: Any) -> tuple[float, float]:
    """Median and interquartile range (75th minus 25th percentile, linear interpolation)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    q25, q50, q75 = np.percentile(x, [25, 50, 75])
    return float(q50), float(q75 - q25)


def common_round(last_rounds: Sequence[int]) -> int:
    """The largest round every run reached (Table 2's budget-matched point)."""
    if not len(last_rounds):
        raise ValueError("no runs to match")
    return int(min(last_rounds))


def run_summary(records: Sequence[dict], upto: int | None = None) -> dict[str, float]:
    """One run's row of Table 2 from its round records (cut at round ``upto`` if given).

    ``budget`` is the number of labelled items at the last round kept, ``selection_time``
    the total instance-selection time of the queries that led to it. ``minority_found_mean``
    is the mean over the rounds kept of the minority items labelled: the area under the
    discovery curve per round, higher for a method that finds the same items with fewer
    labels (where every method ends with all of them, it still tells them apart).
    """
    kept = [r for r in records if upto is None or r["round"] <= upto]
    if not kept:
        raise ValueError("no round records")
    return {
        "rounds": int(kept[-1]["round"]),
        "budget": int(kept[-1]["n_labelled"]),
        "auc_minority_f1": auc([r["minority_f1"] for r in kept]),
        "auc_majority_f1": auc([r["majority_f1"] for r in kept]),
        "final_minority_f1": float(kept[-1]["minority_f1"]),
        "final_majority_f1": float(kept[-1]["majority_f1"]),
        "minority_found": int(kept[-1]["n_minority_labelled"]),
        "minority_found_mean": float(np.mean([r["n_minority_labelled"] for r in kept])),
        "selection_time": float(sum(r.get("time_selection") or 0.0 for r in kept[:-1])),
    }
