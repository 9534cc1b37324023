"""What a run is made of, by name: pool-filtering methods and classifiers.

Methods (:data:`METHODS`) — the paper's comparison (§4):

========== ======================================================================
anchoral   AnchorAL: :class:`~skanchor.AnchorSubpool`
randsub    RandSub: :class:`~skanchor.RandomSubpool`
seals      SEALS: :class:`~skanchor.SEALSSubpool` (stateful)
noop       No-Op: :class:`~skanchor.FullPool`, the strategy scores the whole pool
random     Random sampling: the whole pool, strategy ``random`` whatever is asked
========== ======================================================================

A method runs with its filter class's own defaults (``skanchor list`` prints them), except
where :data:`PAPER_SETTINGS` follows the paper instead (RandSub's M = 10,000).

Query strategies are the core's :data:`skanchor.strategies.STRATEGIES`.

Classifiers (:data:`CLASSIFIERS`) take pool/test **ids** and look up what they need:

- ``logreg`` — logistic regression on the frozen task embeddings, with class weights
  inversely proportional to the class frequencies (``class_weight="balanced"``: minority F1
  is meaningful from round one; measured in ``benchmarks/default_classifier.py``): the fast
  CPU default;
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import (
    HasMethods,
    StrOptions,
    validate_parameter_constraints,
)

from skanchor._params import lookup_name, normalize_name
from skanchor.experiments.classifiers import PriorShiftClassifier
from skanchor.presets import LOGREG_PARAMS, PRESETS
from skanchor.strategies import STRATEGIES
from skanchor.subpool import AnchorSubpool, FullPool, PoolFilter, RandomSubpool, SEALSSubpool

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_METHODS",
    "METHODS",
    "ClassifierSpec",
    "Lookup",
    "PAPER_SETTINGS",
    "MethodSpec",
    "check_strategy",
    "get_classifier",
    "get_method",
    "normalise_name",
]


#: The library's one name rule (:func:`skanchor._params.normalize_name`): case-insensitive,
#: ``-`` and ``_`` alike, surrounding spaces ignored.
normalise_name = normalize_name


#: Where the experiments depart from a filter's own defaults, to follow the paper (§4).
PAPER_SETTINGS: dict[str, dict] = {"randsub": {"max_size": 10_000}}


@dataclass(frozen=True)
class MethodSpec:
    """A pool-filtering method: its filter class, how it is seeded, and its defaults (the
    class's own, updated by :data:`PAPER_SETTINGS`)."""

    name: str
    label: str
    filter_class: type
    seeded: bool = False  # takes random_state (drawn per round from the filter stream)
    stateful: bool = False  # keeps state across rounds (replayed on resume)
    strategy: str | None = None  # forces this query strategy
    settings: Mapping[str, Any] = field(default_factory=dict)  # filter defaults of a preset
    strategy_params: Mapping[str, Any] = field(default_factory=dict)  # of the forced strategy

    @property
    def parameters(self) -> dict:
        """The filter's parameters and their class defaults (``index`` and the seed aside)."""
        params = self.filter_class().get_params(deep=False)
        return {k: v for k, v in params.items() if k not in ("index", "random_state")}

    @property
    def defaults(self) -> dict:
        """The parameters a run uses unless told otherwise."""
        return {**self.parameters, **PAPER_SETTINGS.get(self.name, {}), **self.settings}

    def make(
        self,
        index: Any,
        params: dict | None = None,
        random_state: int | None = None,
        classes: Any = None,
    ):
        """The filter over ``index`` with the defaults updated by ``params``; ``classes`` (the
        task's) reach a filter that takes them (AnchorAL explores a class with no label)."""
        kwargs = self.used_params(params, classes)
        unknown = sorted(set(kwargs) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter {unknown[0]!r}; valid: "
                f"{', '.join(sorted(self.parameters)) or 'none'}"
            )
        if self.seeded:
            kwargs["random_state"] = random_state
        filt: PoolFilter = self.filter_class(index, **kwargs)
        return filt

    def used_params(self, params: dict | None = None, classes: Any = None) -> dict:
        """The filter's parameters as :meth:`make` passes them (``index`` and the seed
        aside): the defaults updated by ``params``, and the task's ``classes``."""
        kwargs = {**self.defaults, **(params or {})}
        if classes is not None and "classes" in self.parameters and kwargs.get("classes") is None:
            kwargs["classes"] = list(classes)
        return kwargs

    def check(self, params: dict | None) -> None:
        """Fail now, naming the parameter, if ``params`` cannot make this method's filter (an
        unknown name, or a value outside the filter's constraints), rather than once the task
        is embedded and the results directory written."""
        filt = self.make(None, params)
        constraints = {k: v for k, v in filt._parameter_constraints.items() if k != "index"}
        values = filt.get_params(deep=False)
        validate_parameter_constraints(
            constraints,
            {k: values[k] for k in constraints if k in values},
            caller_name=f"method {self.name!r} ({type(filt).__name__})",
        )


#: Pool-filtering methods by name. The presets of :mod:`skanchor.presets` are methods too
#: (``skanchor run --methods discovery``), except ``paper``: that is ``anchoral`` + entropy.
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        *(
            MethodSpec(
                preset.name,
                f"AnchorAL ({preset.name})",
                AnchorSubpool,
                seeded=True,
                strategy=preset.strategy,
                settings=dict(preset.anchoring),
                strategy_params=dict(preset.strategy_params),
            )
            for preset in PRESETS.values()
            if preset.name != "paper"
        ),
        MethodSpec("anchoral", "AnchorAL", AnchorSubpool, seeded=True),
        MethodSpec("randsub", "RandSub", RandomSubpool, seeded=True),
        MethodSpec("seals", "SEALS", SEALSSubpool, stateful=True),
        MethodSpec("noop", "No-Op", FullPool),
        MethodSpec("random", "Random", FullPool, strategy="random"),
    )
}

#: The methods a comparison runs unless told otherwise: the library's own, in this order
#: (methods that others register later, such as the benchmarks' peers, are not added).
DEFAULT_METHODS: tuple[str, ...] = tuple(METHODS)

_METHOD_ALIASES = {"anchor": "anchoral", "full": "noop", "rand_sub": "randsub"}
_CLASSIFIER_ALIASES = {"lr": "logreg", "logistic": "logreg"}


def _lookup(registry: dict, kind: str, name: Any, aliases: dict | None = None) -> Any:
    """The entry of ``registry`` named ``name`` (or an alias, or a display label), compared
    after :func:`normalise_name`; unknown names list the valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a name, got {type(name).__name__}")
    key = normalise_name(name)
    key = (aliases or {}).get(key, key)
    for registered, spec in registry.items():
        label = getattr(spec, "label", registered)
        if key in (normalise_name(registered), normalise_name(label)):
            return spec
    raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(registry)}")


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name`` (or its label); unknown names list valid ones."""
    return _lookup(METHODS, "method", name, _METHOD_ALIASES)


def check_strategy(name: str) -> str:
    """The registry name of a query strategy, found by :func:`skanchor.strategies.get_strategy`
    (the core's naming rules); unknown names list the valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a name, got {type(name).__name__}")
    return lookup_name(STRATEGIES, name, "strategy")


class Lookup(TransformerMixin, BaseEstimator):
    """ids -> rows of ``table`` (vectors as an array, texts as a list): the first pipeline step
    of an experiment classifier, so the pool and the labelled set are plain id arrays."""

    _parameter_constraints: ClassVar[dict] = {"table": [HasMethods(["__getitem__"])]}

    def __init__(self, table: Any = None):
        self.table = table

    def fit(self, X: Any, y: Any = None) -> Lookup:
        """Check ``table``; nothing to learn.

        Parameters
        ----------
        X : array-like of int
            Ids (unused).
        y : ignored

        Returns
        -------
        self : Lookup
        """
        self._validate_params()
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

    def check(self, params: dict | None) -> None:
        """Fail now, in one line naming the parameter, if ``params`` cannot make this
        classifier (an unknown name, or a value outside a scikit-learn estimator's
        constraints), rather than at the first round."""
        try:
            model = self.make(None, params, model_seed=0, data_seed=0)[-1]
        except TypeError as exc:
            raise ValueError(f"classifier {self.name!r}: {exc}") from None
        for part in (model, getattr(model, "estimator", None)):
            if hasattr(part, "_parameter_constraints"):
                part._validate_params()


def _logreg(params: dict, *, model_seed: int, data_seed: int, minority: Any, progress: bool) -> Any:
    """``LogisticRegression(**params)``; ``threshold="cv"`` wraps it in a
    :class:`~skanchor.experiments.classifiers.PriorShiftClassifier` (decision offsets tuned
    by cross-validation on the labelled set, folds shuffled by the run's data stream)."""
    params = dict(params)
    threshold = params.pop("threshold", None)
    validate_parameter_constraints(
        {"threshold": [StrOptions({"cv"}), None]}, {"threshold": threshold}, caller_name="logreg"
    )
    params.setdefault("random_state", model_seed)
    model = LogisticRegression(**params)
    if threshold == "cv":
        return PriorShiftClassifier(model, random_state=data_seed)
    return model


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
        dict(LOGREG_PARAMS),
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
    return _lookup(CLASSIFIERS, "classifier", name, _CLASSIFIER_ALIASES)
