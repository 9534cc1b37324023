"""The round table of a results directory: every record of every run, and its comparison
groups. What :mod:`~skanchor.experiments.report` (tables) and
:mod:`~skanchor.experiments.plots` (figures) both read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skanchor.experiments.components import METHODS
from skanchor.experiments.seeds import Seeds
from skanchor.experiments.store import ResultsDir, ResultsDirError

__all__ = ["groups", "load_rounds", "method_order", "results_dir"]

#: Columns of the round table that hold lists or dicts (left out unless asked for).
_BULKY = ("queried_ids", "queried_labels", "labelled_per_class", "f1_per_class")


def results_dir(path: str | Path) -> ResultsDir:
    """The results directory at ``path``; raises :class:`ResultsDirError` if it is none."""
    results = ResultsDir(path)
    if not results.path.is_dir():
        raise ResultsDirError(f"results directory {results.path} does not exist")
    if not results.is_results_dir():
        raise ResultsDirError(f"{results.path} holds no skanchor results (no experiment.json)")
    return results


def load_rounds(path: str | Path, *, bulky: bool = False):
    """Every round of every run in ``path`` as a ``pandas.DataFrame``.

    Columns: ``run_id``, ``method``, ``strategy``, ``classifier``, ``seeds``, ``status``,
    then the record fields (:data:`skanchor.experiments.loop.RECORD_FIELDS`); list and dict
    fields only with ``bulky=True``.
    """
    import pandas as pd

    rows: list[dict] = []
    for store in results_dir(path).runs():
        manifest = store.read_manifest()
        identity = manifest.get("identity", {})
        meta = {
            "run_id": store.run_id,
            "method": identity.get("method"),
            "strategy": identity.get("strategy"),
            "classifier": identity.get("classifier"),
            "seeds": Seeds(**identity["seeds"]).label if "seeds" in identity else None,
        }
        records = store.load_rounds(repair=False)
        meta["status"] = store.status(manifest, records)
        for record in records:
            row = {**meta, **record}
            if not bulky:
                for key in _BULKY:
                    row.pop(key, None)
            rows.append(row)
    return pd.DataFrame(rows)


def groups(rounds) -> list[tuple[str, str, Any]]:
    """``(strategy, classifier, rows)`` per comparison group. A method that brings its own
    strategy (Random, the presets) joins every strategy's group."""
    out = []
    if rounds.empty:
        return out
    own = rounds["method"].map(lambda m: m in METHODS and METHODS[m].strategy is not None)
    strategies = sorted(set(rounds.loc[~own, "strategy"])) or sorted(
        set(rounds.loc[own, "strategy"])
    )
    for strategy in strategies:
        for classifier in sorted(set(rounds["classifier"])):
            mask = (rounds["classifier"] == classifier) & ((rounds["strategy"] == strategy) | own)
            if mask.any():
                out.append((strategy, classifier, rounds[mask]))
    return out


def method_order(methods: Any) -> list[str]:
    """The distinct ``methods`` in :data:`~skanchor.experiments.components.METHODS` order
    (others last, by name)."""
    order = list(METHODS)
    return sorted(set(methods), key=lambda m: (order.index(m) if m in order else len(order), m))
