"""What a run is made of, by name: pool-filtering methods and classifiers.

Methods (:data:`METHODS`) — the paper's comparison (§4):

========== ======================================================================
anchoral   AnchorAL: :class:`~skanchor.AnchorSubpool` (A=10, K=50, M=1,000)
randsub    RandSub: :class:`~skanchor.RandomSubpool` (M=10,000)
seals      SEALS: :class:`~skanchor.SEALSSubpool` (K=50; stateful)
noop       No-Op: :class:`~skanchor.FullPool`, the strategy scores the whole pool
random     Random sampling: the whole pool, strategy ``random`` whatever is asked
========== ======================================================================

Query strategies are the core's :data:`skanchor.strategies.STRATEGIES`.

Classifiers (:data:`CLASSIFIERS`) take pool/test **ids** and look up what they need:

- ``logreg`` — logistic regression on the frozen task embeddings: the fast CPU default;
- ``transformer`` — :class:`skanchor.TransformerClassifier` fine-tuned on the texts, fresh
  each round (the paper's setting; slow on CPU);
- ``transformer-top`` — :class:`skanchor.models.TopLayersClassifier`: the top layer and a head
  fine-tuned on the texts each round over cached frozen states (seconds per round on CPU).

>>> get_method("AnchorAL").label
'AnchorAL'
>>> sorted(CLASSIFIERS)
['logreg', 'transformer', 'transformer-top']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skanchor.strategies import STRATEGIES
from skanchor.subpool import AnchorSubpool, FullPool, PoolFilter, RandomSubpool, SEALSSubpool

__all__ = [
    "CLASSIFIERS",
    "METHODS",
    "ClassifierSpec",
    "Lookup",
    "MethodSpec",
    "check_strategy",
    "get_classifier",
    "get_method",
]


@dataclass(frozen=True)
class MethodSpec:
    """A pool-filtering method: its filter class, defaults and how it is seeded."""

    name: str
    label: str
    filter_class: type
    defaults: dict = field(default_factory=dict)
    seeded: bool = False  # takes random_state (drawn per round from the filter stream)
    stateful: bool = False  # keeps state across rounds (replayed on resume)
    strategy: str | None = None  # forces this query strategy

    def make(self, index: Any, params: dict | None = None, random_state: int | None = None):
        """The filter over ``index`` with the defaults updated by ``params``."""
        kwargs = {**self.defaults, **(params or {})}
        valid = set(inspect.signature(self.filter_class).parameters) - {"index", "random_state"}
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter {unknown[0]!r}; valid: "
                f"{', '.join(sorted(valid)) or 'none'}"
            )
        if self.seeded:
            kwargs["random_state"] = random_state
        filt: PoolFilter = self.filter_class(index, **kwargs)
        return filt


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "anchoral",
            "AnchorAL",
            AnchorSubpool,
            {"n_anchors": 10, "n_neighbours": 50, "max_size": 1000, "anchor_strategy": "kmeans++"},
            seeded=True,
        ),
        MethodSpec("randsub", "RandSub", RandomSubpool, {"max_size": 10_000}, seeded=True),
        MethodSpec("seals", "SEALS", SEALSSubpool, {"n_neighbours": 50}, stateful=True),
        MethodSpec("noop", "No-Op", FullPool),
        MethodSpec("random", "Random", FullPool, strategy="random"),
    )
}

_ALIASES = {"anchor": "anchoral", "no-op": "noop", "full": "noop", "rand-sub": "randsub"}


def _lookup(registry: dict, kind: str, name: Any, aliases: dict | None = None) -> Any:
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a name, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    key = (aliases or {}).get(key, key)
    for candidate in (key, key.replace("-", "_"), key.replace("-", "")):
        if candidate in registry:
            return registry[candidate]
    for spec in registry.values():  # display labels ("AnchorAL", "No-Op") work too
        if getattr(spec, "label", "").lower() == name.strip().lower():
            return spec
    raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(registry)}")


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name`` (or its label); unknown names list valid ones."""
    return _lookup(METHODS, "method", name, _ALIASES)


def check_strategy(name: str) -> str:
    """The canonical name of a query strategy of :data:`skanchor.strategies.STRATEGIES`."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; valid names: {', '.join(STRATEGIES)}")
    return key


class Lookup(TransformerMixin, BaseEstimator):
    """ids -> rows of ``table`` (vectors as an array, texts as a list): the first pipeline step
    of an experiment classifier, so the pool and the labelled set are plain id arrays."""

    def __init__(self, table: Any = None):
        self.table = table

    def fit(self, X: Any, y: Any = None) -> Lookup:
        return self

    def transform(self, X: Any) -> Any:
        rows = self.table[np.asarray(X, dtype=np.int64)]
        return rows.tolist() if rows.dtype == object else rows

    def __sklearn_is_fitted__(self) -> bool:
        return True


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier family: what it reads (``"vectors"`` or ``"texts"``) and its factory."""

    name: str
    description: str
    reads: str
    factory: Callable[..., Any]
    defaults: dict = field(default_factory=dict)

    def make(
        self,
        table: Any,
        params: dict | None = None,
        *,
        model_seed: int,
        data_seed: int,
        minority: tuple[str, ...] = (),
        progress: bool = False,
    ) -> Pipeline:
        """A fresh, unfitted classifier on ids (a ``Lookup`` then the model)."""
        model = self.factory(
            {**self.defaults, **(params or {})},
            model_seed=model_seed,
            data_seed=data_seed,
            minority=minority,
            progress=progress,
        )
        return Pipeline([("lookup", Lookup(table)), ("model", model)])


def _logreg(params: dict, *, model_seed: int, data_seed: int, minority: Any, progress: bool) -> Any:
    params = dict(params)
    params.setdefault("random_state", model_seed)
    return LogisticRegression(**params)


def _transformer(
    params: dict, *, model_seed: int, data_seed: int, minority: Any, progress: bool
) -> Any:
    """``TransformerClassifier`` with the paper's training protocol (App. A.2).

    ``random_state`` (head initialisation, dropout) gets the run's model stream and
    ``data_random_state`` (batch order) its data stream, as App. A.3 asks; with an older
    class that lacks ``data_random_state`` one seed mixed from both is used instead.
    Model selection uses the task's minority classes; ``checkpoint`` defaults to the
    packaged all-MiniLM-L6-v2 (offline; the paper fine-tunes BERT-base and others).
    """
    from skanchor.embed import OFFLINE_MODEL, resolve_model
    from skanchor.models import TransformerClassifier

    params = dict(params)
    params["checkpoint"] = resolve_model(params.get("checkpoint", OFFLINE_MODEL))
    if "data_random_state" in inspect.signature(TransformerClassifier).parameters:
        params.setdefault("random_state", model_seed)  # separate streams when supported
        params.setdefault("data_random_state", data_seed)
    else:
        mixed = np.random.SeedSequence([model_seed, data_seed]).generate_state(1)[0] >> 1
        params.setdefault("random_state", int(mixed))
    if minority:
        params.setdefault("minority_labels", list(minority))
    if progress and "callbacks" not in params:
        from skorch.callbacks import ProgressBar

        params["callbacks"] = [("progress_bar", ProgressBar())]
    return TransformerClassifier(**params)


def _transformer_top(
    params: dict, *, model_seed: int, data_seed: int, minority: Any, progress: bool
) -> Any:
    """``TopLayersClassifier`` (packaged all-MiniLM-L6-v2 by default): the run's model stream
    seeds the head and dropout, its data stream the batch order. Frozen states stay in memory
    for the process (shared by every round and run of the same model); ``cache_dir`` keeps
    them on disk too."""
    from skanchor.models import TopLayersClassifier

    params = dict(params)
    params.setdefault("random_state", model_seed)
    params.setdefault("data_random_state", data_seed)
    return TopLayersClassifier(**params)


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "logreg": ClassifierSpec(
        "logreg",
        "logistic regression on the frozen task embeddings (fast, CPU)",
        "vectors",
        _logreg,
        {"C": 10.0, "max_iter": 2000},
    ),
    "transformer": ClassifierSpec(
        "transformer",
        "TransformerClassifier fine-tuned on the texts each round (paper; slow on CPU)",
        "texts",
        _transformer,
    ),
    "transformer-top": ClassifierSpec(
        "transformer-top",
        "TopLayersClassifier: top layer + head fine-tuned over cached frozen states (CPU)",
        "texts",
        _transformer_top,
    ),
}


def get_classifier(name: str) -> ClassifierSpec:
    """The classifier family registered under ``name``; unknown names list valid ones."""
    return _lookup(CLASSIFIERS, "classifier", name, {"lr": "logreg", "logistic": "logreg"})
