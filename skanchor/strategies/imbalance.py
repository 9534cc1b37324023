"""Active search for the minority class(es), and what the imbalance-aware strategies share.

Strategies here (modAL protocol, registered in :data:`skanchor.strategies.STRATEGIES`):

- ``minority``: :func:`minority_sampling`, the items most likely to be minority (pure
  exploitation, the greedy one-step policy of active search);
- ``minority_mix``: :func:`minority_mix_sampling`, a share of each batch by that
  exploitation score and the rest by predictive entropy (exploration).

GALAXY and DIRECT (:mod:`skanchor.strategies.chains`) and label propagation over the index's
kNN graph (:mod:`skanchor.strategies.graph`) use the helpers below to read the labelled set
and the minority class(es) from the query-strategy context that
:class:`~skanchor.AnchoredQueryStrategy` passes (``labelled_ids``, ``labels``, ``X_labelled``)
or, called by a plain modAL learner, from its ``X_training`` / ``y_training``.

*Minority*: ``minority=None`` means the rarest class of the labelled set (ties go to the first
class in sorted order); a label or a list of labels names the class(es) explicitly.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from skanchor._kmeans import kmeans, one_blas_thread
from skanchor._ranking import top_k as _top_k
from skanchor.strategies._common import (
    STRATEGY_CONSTRAINTS,
    _check_pool_size,
    _check_random_state,
    _n_items,
    _predict_proba,
    _proba_and_representation,
    _representation,
    _result,
    _unwrap_learner,
    predictive_entropy,
)
from skanchor.strategies.diversity import _serve_centres

__all__ = ["UnseenMinorityWarning", "minority_mix_sampling", "minority_sampling"]


class UnseenMinorityWarning(UserWarning):
    """A minority class named to a strategy has no labelled item yet, so the classifier does
    not know it: :func:`minority_sampling` and :func:`minority_mix_sampling` select those
    items by predictive entropy (exploration) until one is labelled."""


#: The constraint on ``n_instances`` that every imbalance-aware strategy declares.
_N_INSTANCES = STRATEGY_CONSTRAINTS["n_instances"]


# --------------------------------------------------------------------------------------------
# Shared helpers: sizes, the labelled set, class columns, the minority
# --------------------------------------------------------------------------------------------


def _check_n_instances(n_instances: Any, n: int, strategy: str) -> int:
    """``n_instances`` (already checked by ``validate_params``) against the ``n`` items of
    ``X``; ``strategy`` names the caller in the error."""
    n_instances = int(n_instances)
    _check_pool_size(n_instances, n, f"{strategy}: X")
    return n_instances


def _labelled_set(
    classifier: Any,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
    *,
    need_items: bool = True,
) -> tuple[Any, np.ndarray]:
    """The labelled items (as the classifier takes them) and their labels.

    From the context (``X_labelled``, or ``labelled_ids`` when the classifier takes ids), else
    from a modAL learner's ``X_training`` / ``y_training``. With ``need_items=False`` only the
    labels are needed and the items may be ``None``.
    """
    if labels is None:
        labels = getattr(classifier, "y_training", None)
        if X_labelled is None and labelled_ids is None:
            X_labelled = getattr(classifier, "X_training", None)
    items = X_labelled if X_labelled is not None else labelled_ids
    if labels is None or (need_items and items is None):
        raise ValueError(
            f"{strategy} needs the labelled set: pass labels= with X_labelled= or "
            "labelled_ids= (AnchoredQueryStrategy does), or call it through a modAL learner "
            "(X_training, y_training)"
        )
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    if items is not None and _n_items(items) != labels.shape[0]:
        name = "X_labelled" if X_labelled is not None else "labelled_ids"
        raise ValueError(f"{name} has {_n_items(items)} items but labels has {labels.shape[0]}")
    return items, labels


def _classes(classifier: Any, n_columns: int) -> np.ndarray:
    """The labels of the columns of ``predict_proba``: the model's ``classes_``, or
    ``0 .. n_columns - 1`` for a model without one."""
    classes = getattr(_unwrap_learner(classifier), "classes_", None)
    if classes is None:
        return np.arange(n_columns)
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.shape[0] != n_columns:
        raise ValueError(
            f"the classifier's classes_ has shape {classes.shape} but predict_proba has "
            f"{n_columns} columns"
        )
    return classes


def _label_columns(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The ``predict_proba`` column of each label; -1 for a label the model does not know."""
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    return np.fromiter((lookup.get(v, -1) for v in labels.tolist()), np.int64, labels.shape[0])


def _as_label_list(minority: Any) -> list:
    if isinstance(minority, (str, bytes)) or np.ndim(minority) == 0:
        return [np.asarray(minority).item()]
    values = np.asarray(minority).ravel().tolist()
    if not values:
        raise ValueError("minority must name at least one class, got an empty list")
    return values


def _rarest_label(labels: np.ndarray, strategy: str) -> Any:
    if labels.shape[0] == 0:
        raise ValueError(f"{strategy}: minority=None needs at least one labelled item")
    values, counts = np.unique(labels, return_counts=True)
    return values[np.argmin(counts)]  # first of the rarest in sorted order


def _minority_columns(
    minority: Any,
    classes: np.ndarray,
    strategy: str,
    classifier: Any = None,
    labels: Any = None,
    *,
    labelled_ids: Any = None,
    X_labelled: Any = None,
    allow_unseen: bool = False,
) -> np.ndarray:
    """Columns of ``classes`` that hold the minority class(es) (sorted, unique).

    ``minority=None`` takes the rarest labelled class, reading the labels from the context or
    the learner. A named class the model does not know is an error listing the known ones;
    with ``allow_unseen`` it is left out (with :class:`UnseenMinorityWarning`), so the
    result may be empty: no minority item has been labelled yet.
    """
    if minority is None:
        _, labels = _labelled_set(
            classifier, labelled_ids, labels, X_labelled, strategy, need_items=False
        )
        wanted = [np.asarray(_rarest_label(labels, strategy)).item()]
    else:
        wanted = _as_label_list(minority)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    missing = [w for w in wanted if w not in lookup]
    known = ", ".join(repr(c) for c in classes.tolist())
    as_text = {str(c): c for c in classes.tolist()}
    for w in missing:  # 1 for "1" (a CSV read as text) never turns up: say so, once
        if str(w) in as_text:
            raise ValueError(
                f"{strategy}: minority={w!r} ({type(w).__name__}) is not a class of the "
                f"classifier, whose labels are {as_text[str(w)]!r} "
                f"({type(as_text[str(w)]).__name__}); give minority as the labels are"
            )
    if missing and not allow_unseen:
        raise ValueError(
            f"minority={missing[0]!r} is not a class of the classifier (classes: {known})"
        )
    if missing:
        warnings.warn(
            f"{strategy}: the classifier knows no minority class {missing} yet (classes: "
            f"{known}): {'those items are' if len(missing) < len(wanted) else 'every item is'}"
            " selected by predictive entropy until one is labelled",
            UnseenMinorityWarning,
            stacklevel=4,
        )
    present = [lookup[w] for w in wanted if w in lookup]
    return np.unique(np.asarray(present, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# Active search
# --------------------------------------------------------------------------------------------

_CONTEXT = {
    "classifier": "no_validation",
    "X": "no_validation",
    "n_instances": _N_INSTANCES,
    "minority": "no_validation",
    "per_class": ["boolean"],
    "exploit_until": [Interval(Integral, 1, None, closed="left"), None],
    "labelled_ids": "no_validation",
    "labels": "no_validation",
    "X_labelled": "no_validation",
}


@validate_params(_CONTEXT, prefer_skip_nested_validation=True)
def minority_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    minority: Any = None,
    per_class: bool = False,
    exploit_until: int | None = None,
    labelled_ids: Any = None,
    labels: Any = None,
    X_labelled: Any = None,
    random_state: Any = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items most likely to belong to the minority class(es) (active search).

    The greedy one-step policy of active search (Garnett et al., 2012; Jiang et al., 2017):
    the score of an item is the classifier's probability that it is minority, summed over
    the minority classes, and the largest scores are selected (smaller position first on
    ties). Pure exploitation: it finds minority items fast where the model is right and never
    explores where it is wrong; :func:`minority_mix_sampling` mixes in uncertainty.

    Parameters
    ----------
    classifier : object
        A fitted classifier with ``predict_proba`` (or a modAL learner / Pipeline of one).
    X : array-like, sparse matrix or list
        The candidate items, as the classifier takes them.
    n_instances : int, default=1
        Number of items to select.
    minority : label or list of labels, default=None
        The minority class(es); ``None`` is the rarest class of the labelled set. A class
        the classifier does not know yet (no labelled item) is left out, with
        :class:`UnseenMinorityWarning`; with none known, entropy selects.
    per_class : bool, default=False
        With several minority classes: ``False`` ranks by their summed probability, which
        favours the class the model finds easiest; ``True`` takes the classes in turn (the
        one with the fewest labelled items first), each its most likely item not yet taken,
        so every known minority class gets an even share. One minority class: no difference.
    exploit_until : int or None, default=None
        A quota: a minority class with at least this many labelled items is no longer
        exploited, and its share of the batch goes to predictive entropy (with every class
        at its quota, the whole batch). ``None``: no quota.
    labelled_ids, labels, X_labelled : optional
        Query-strategy context (``labels`` is read when ``minority=None``, with
        ``per_class`` for the order of the classes and with ``exploit_until`` for the
        quota); a modAL learner's ``y_training`` is the fallback.
    random_state : None, int or RandomState
        Not used (the selection is deterministic).
    **kwargs
        Ignored (modAL passes extra keywords along).

    Returns
    -------
    positions : ndarray of int64, shape (n_instances,)
        Positions into ``X``, best first.
    scores : ndarray of float64, shape (n_instances,)
        The minority probability of each selected item (with ``per_class``, the
        probability of the class it was selected for).
    """
    return _exploit_then_explore(
        classifier,
        X,
        n_instances,
        1.0,
        minority,
        per_class,
        exploit_until,
        None,
        None,
        labelled_ids,
        labels,
        X_labelled,
        "minority_sampling",
    )


@validate_params(
    {
        **_CONTEXT,
        "exploit": [Interval(Real, 0, 1, closed="both")],
        "explore_prior": [StrOptions({"labelled"}), None],
        "explore_first": [Interval(Integral, 1, None, closed="left"), None],
        "diverse": [Interval(Real, 1, None, closed="left"), None],
        "exploit_rank": [StrOptions({"likely", "boundary", "novel", "auto"})],
        "exploit_min": [Interval(Real, 0, 1, closed="right"), None],
    },
    prefer_skip_nested_validation=True,
)
def minority_mix_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    exploit: float = 0.5,
    minority: Any = None,
    per_class: bool = False,
    exploit_until: int | None = None,
    explore_prior: str | None = None,
    explore_first: int | None = None,
    diverse: float | None = None,
    exploit_rank: str = "likely",
    exploit_min: float | None = None,
    labelled_ids: Any = None,
    labels: Any = None,
    X_labelled: Any = None,
    random_state: Any = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Exploitation and exploration in one batch: part by P(minority), the rest by entropy.

    ``round(exploit * n_instances)`` items (halves round up) are the most likely minority
    items (as :func:`minority_sampling`); the others are the items of highest predictive
    entropy among the rest (as ``entropy_sampling``). ``exploit=1`` is
    :func:`minority_sampling`, ``exploit=0`` entropy sampling. The default 0.5 is what the
    recommended preset (``discovery``) uses; it was not tuned (``benchmarks/RESULTS.md``).

    Parameters
    ----------
    classifier : object
        A fitted classifier with ``predict_proba`` (or a modAL learner / Pipeline of one).
    X : array-like, sparse matrix or list
        The candidate items, as the classifier takes them.
    n_instances : int, default=1
        Number of items to select.
    exploit : float in [0, 1], default=0.5
        Share of the batch selected by minority probability.
    minority : label or list of labels, default=None
        The minority class(es); ``None`` is the rarest class of the labelled set. A class
        the classifier does not know yet (no labelled item) is left out, with
        :class:`UnseenMinorityWarning`; with none known, entropy selects.
    per_class : bool, default=False
        With several minority classes: ``False`` ranks by their summed probability, which
        favours the class the model finds easiest; ``True`` takes the classes in turn (the
        one with the fewest labelled items first), each its most likely item not yet taken,
        so every known minority class gets an even share. One minority class: no difference.
    exploit_until : int or None, default=None
        A quota: a minority class with at least this many labelled items is no longer
        exploited, and its share of the batch goes to predictive entropy (with every class
        at its quota, the whole batch). ``None``: no quota.
    explore_prior : {"labelled"} or None, default=None
        ``"labelled"``: the explored items are ranked by the entropy of the probabilities
        multiplied by the labelled class shares (and renormalised). For a classifier trained
        with balanced class weights, whose probabilities assume equal class priors, this
        turns them back to the labelled set's prior, so exploration looks at the unweighted
        decision boundary instead of the balanced one. ``None``: the plain entropy.
    explore_first : int or None, default=None
        A warm-up: while fewer than this many items are labelled, the whole batch is the
        plain predictive entropy (no exploitation, no ``explore_prior``). ``None``: none.
    diverse : float >= 1 or None, default=None
        A diverse explored share (Zhdanov, 2019): its ``k`` items are chosen among the
        ``ceil(diverse * k)`` of highest entropy by a k-means with ``k`` clusters on the
        classifier's representation (:func:`~skanchor.strategies.get_representation`,
        l2-normalised), weighted by the entropy, each centre taking its nearest item. Near
        duplicates then rarely share a batch. The exploited share is left as it is (a twin of
        a minority item is still found). ``None`` (or 1): the top ``k`` by entropy.
    exploit_rank : {"likely", "boundary", "novel", "auto"}, default="likely"
        How the exploited share ranks a minority class's items. ``"likely"``: the most
        likely first. ``"boundary"``: the items the classifier assigns to the class, least
        sure first, then (if they run out) the most likely of the others: minority items at
        the edge of what the model knows, and its false positives, instead of the sure core
        it already classifies right. ``"novel"``: among the class's ``2 * q`` most likely
        items (``q`` its share of the batch), farthest first (cosine, on the classifier's
        representation) from the class's labelled items and from those already taken: likely
        minority items unlike the ones labelled, instead of twins of them. It needs the
        labelled items (``X_labelled``, or ``X_training``) and a representation.
        ``"auto"``: ``"boundary"`` for a class whose share of most likely items all have
        probability >= 0.5 at the labelled class shares (the model is already sure of its
        core), ``"likely"`` for the others (a class it barely knows, whose edge is mostly
        errors); it needs the labels.
    exploit_min : float in (0, 1] or None, default=None
        Exploit only while it pays: an exploited item needs at least this probability of its
        class (of the minority classes, summed, without ``per_class``) once the
        probabilities are re-weighted by the labelled class shares (as ``explore_prior``
        does). With ``per_class``, a class without such items leaves its turns to the
        others; the slots no item fills go to the explored share, so a minority class the
        subpool has run out of stops costing labels on confident false positives. ``None``:
        no floor.
    labelled_ids, labels, X_labelled : optional
        Query-strategy context (``labels`` is read when ``minority=None``, with
        ``per_class`` for the order of the classes, with ``exploit_until`` for the
        quota, with ``explore_prior``, with ``explore_first``, with ``exploit_min``, with
        ``"auto"`` and with ``"novel"``, which reads ``X_labelled`` too); a modAL learner's
        ``X_training`` / ``y_training`` is the fallback.
    random_state : None, int or RandomState
        Seeds the k-means of ``diverse`` (otherwise the selection is deterministic).
    **kwargs
        Ignored (modAL passes extra keywords along).

    Returns
    -------
    positions : ndarray of int64, shape (n_instances,)
        Positions into ``X``: the exploited items first (by decreasing P(minority), or with
        ``per_class`` in the order the classes took them), then the explored ones (by
        decreasing entropy).
    scores : ndarray of float64, shape (n_instances,)
        P(minority) for the exploited items (with ``per_class``, the probability of the class
        each was selected for), the entropy (nats) for the explored ones (of the
        re-weighted probabilities with ``explore_prior``).
    """
    return _exploit_then_explore(
        classifier,
        X,
        n_instances,
        exploit,
        minority,
        per_class,
        exploit_until,
        explore_prior,
        explore_first,
        labelled_ids,
        labels,
        X_labelled,
        "minority_mix_sampling",
        diverse=diverse,
        exploit_rank=exploit_rank,
        exploit_min=exploit_min,
        random_state=random_state,
    )


def _exploit_then_explore(
    classifier: Any,
    X: Any,
    n_instances: Any,
    exploit: float,
    minority: Any,
    per_class: bool,
    exploit_until: int | None,
    explore_prior: str | None,
    explore_first: int | None,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
    *,
    diverse: float | None = None,
    exploit_rank: str = "likely",
    exploit_min: float | None = None,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``round(exploit * n_instances)`` items by P(minority) (summed, or class by class with
    ``per_class``), the rest by entropy (all of them by entropy while the classifier knows no
    minority class below its ``exploit_until`` quota), of the probabilities re-weighted by
    the labelled class shares with ``explore_prior="labelled"``; all of them by plain entropy
    while fewer than ``explore_first`` items are labelled. With ``diverse``, the entropy
    ranking only shortlists the explored items and k-means picks among them; with
    ``exploit_rank="boundary"`` a class's assigned items come first, least sure first (with
    ``"auto"``, for a class whose likeliest items are sure at the labelled prior); with
    ``"novel"`` its most likely ones farthest first from its labelled items; with
    ``exploit_min`` only items at least that likely at the labelled prior are exploited."""
    n = _n_items(X)
    n_instances = _check_n_instances(n_instances, n, strategy)
    novel = exploit_rank == "novel"
    if novel or (diverse is not None and diverse > 1):  # one forward pass, where the model can
        proba, H = _proba_and_representation(classifier, X, n, strategy)
    else:
        proba, H = _predict_proba(classifier, X, n, strategy), None
    columns = _known_minority_columns(
        classifier, proba, minority, labelled_ids, labels, X_labelled, strategy
    )
    counts = None
    required = (
        exploit_until is not None
        or explore_prior is not None
        or explore_first is not None
        or exploit_min is not None
        or novel
        or exploit_rank == "auto"
    )
    if required or (per_class and columns.size > 1):
        # the quota, the prior and the warm-up need the labels; class order falls back to columns
        counts = _labelled_counts(classifier, proba, labels, strategy, required)
    if explore_first is not None and counts.sum() < explore_first:  # the warm-up: plain entropy
        exploit, explore_prior = 0.0, None
    if exploit_until is not None:
        columns = columns[counts[columns] < exploit_until]
    if columns.size == 0:  # no minority class to exploit (yet, or any more)
        exploit = 0.0
    n_exploit = min(n_instances, int(np.floor(exploit * n_instances + 0.5)))
    seen = None
    if novel and n_exploit:  # the labelled items of each known class, as the model sees them
        seen = _labelled_representation(
            classifier, proba, labelled_ids, labels, X_labelled, strategy
        )
    at_prior = None  # the probabilities at the labelled class shares, for the floor and the prior
    if exploit_min is not None or explore_prior is not None or exploit_rank == "auto":
        at_prior = _at_labelled_prior(proba, counts)
    if per_class and columns.size > 1:
        order = columns[np.argsort(counts[columns], kind="stable")]  # fewest labelled first
        keys = proba[:, order]
        quota = -(-n_exploit // order.size)  # the most any class takes in turn
        if exploit_rank in ("boundary", "auto"):
            edge = _boundary_keys(keys, proba.argmax(axis=1)[:, None] == order[None, :])
            if exploit_rank == "auto":  # the edge only of a class the model is sure of
                sure = [_sure_of(keys[:, j], at_prior[:, c], quota) for j, c in enumerate(order)]
                edge = np.where(np.asarray(sure)[None, :], edge, keys)
            keys = edge
        ranked = None
        if seen is not None:
            ranked = [_novel_ranking(keys[:, j], quota, H, seen, [c]) for j, c in enumerate(order)]
        if exploit_min is not None:
            ranked = [
                _paying(keys[:, j], at_prior[:, c] >= exploit_min, ranked and ranked[j])
                for j, c in enumerate(order)
            ]
        exploited, taken_by = _round_robin(keys, n_exploit, ranked)
        exploit_scores = proba[exploited, order[taken_by]]
    else:
        p_min = proba[:, columns].sum(axis=1)
        keys = p_min
        if exploit_rank == "boundary" or (
            exploit_rank == "auto" and _sure_of(p_min, at_prior[:, columns].sum(axis=1), n_exploit)
        ):
            keys = _boundary_keys(p_min, np.isin(proba.argmax(axis=1), columns))
        exploited = None
        if seen is not None:
            exploited = _novel_ranking(p_min, n_exploit, H, seen, columns)
        elif exploit_min is None:
            exploited = _top_k(keys, n_exploit, largest=True)
        if exploit_min is not None:
            exploited = _paying(keys, at_prior[:, columns].sum(axis=1) >= exploit_min, exploited)
        exploited = exploited[:n_exploit]
        exploit_scores = p_min[exploited]
    rest = np.ones(n, dtype=bool)
    rest[exploited] = False
    candidates = np.flatnonzero(rest)
    entropy = predictive_entropy((proba if explore_prior is None else at_prior)[candidates])
    n_explore = n_instances - exploited.size
    if diverse is None or diverse <= 1 or n_explore == 0:
        best = _top_k(entropy, n_explore, largest=True)
    else:
        best = _diverse_top(entropy, H[candidates], n_explore, diverse, random_state)
    positions = np.concatenate([exploited, candidates[best]])
    scores = np.concatenate([exploit_scores, entropy[best]])
    return _result(positions, scores)


def _diverse_top(
    scores: np.ndarray, H: Any, k: int, factor: float, random_state: Any
) -> np.ndarray:
    """``k`` positions among the ``ceil(factor * k)`` largest ``scores``: the rows of ``H``
    (l2-normalised) nearest to the centres of a k-means weighted by the scores, by decreasing
    score."""
    shortlist = _top_k(scores, min(scores.size, int(np.ceil(factor * k))), largest=True)
    if shortlist.size > k:
        rows = _unit_rows(H[shortlist])
        weights = np.maximum(scores[shortlist], np.finfo(np.float64).tiny)
        with one_blas_thread():
            _, distances = kmeans(rows, k, _check_random_state(random_state), weights)
        picked, _ = _serve_centres(distances)
        shortlist = shortlist[picked]
    return shortlist[np.lexsort((shortlist, -scores[shortlist]))]


def _known_minority_columns(
    classifier: Any,
    proba: np.ndarray,
    minority: Any,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
) -> np.ndarray:
    """The ``predict_proba`` columns of the minority classes the classifier knows (empty, with
    :class:`UnseenMinorityWarning`, while it knows none)."""
    return _minority_columns(
        minority,
        _classes(classifier, proba.shape[1]),
        strategy,
        classifier,
        labels,
        labelled_ids=labelled_ids,
        X_labelled=X_labelled,
        allow_unseen=True,
    )


def _labelled_counts(
    classifier: Any, proba: np.ndarray, labels: Any, strategy: str, required: bool
) -> np.ndarray:
    """Labelled items per ``predict_proba`` column (labels the model does not know left out);
    zeros when no labels are at hand and they are not ``required``."""
    if labels is None and getattr(classifier, "y_training", None) is None and not required:
        return np.zeros(proba.shape[1], dtype=np.int64)
    _, labels = _labelled_set(classifier, None, labels, None, strategy, need_items=False)
    known = _label_columns(labels, _classes(classifier, proba.shape[1]))
    return np.bincount(known[known >= 0], minlength=proba.shape[1])


def _at_labelled_prior(proba: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``proba`` re-weighted by the labelled class shares (``counts``) and renormalised: a
    classifier fitted with balanced class weights brought back to the labelled set's prior."""
    weighted = proba * counts
    return weighted / np.maximum(weighted.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)


def _paying(keys: np.ndarray, eligible: np.ndarray, ranking: np.ndarray | None) -> np.ndarray:
    """The ``eligible`` positions of ``ranking`` in its order (``None``: every eligible
    position by decreasing key, ties to the smaller position)."""
    if ranking is None:
        positions = np.flatnonzero(eligible)
        return positions[_top_k(keys[positions], positions.size, largest=True)]
    return ranking[eligible[ranking]]


def _sure_of(p: np.ndarray, at_prior: np.ndarray, share: int) -> bool:
    """Whether the ``share`` largest ``p`` (ties to the smaller position) all have
    ``at_prior`` >= 0.5: the model is sure of a class's share even at the labelled prior."""
    top = _top_k(p, min(share, p.size), largest=True)
    return bool(top.size) and bool((at_prior[top] >= 0.5).all())


def _boundary_keys(p: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """Ranking keys (largest first) that put the items ``assigned`` to the class first, least
    sure first, then the others, most likely first: ``2 - p`` where assigned, else ``p``."""
    return np.where(assigned, 2.0 - p, p)


def _labelled_representation(
    classifier: Any,
    proba: np.ndarray,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The labelled items' representation (l2-normalised rows) and each one's
    ``predict_proba`` column (-1 for a label the model does not know)."""
    items, labels = _labelled_set(classifier, labelled_ids, labels, X_labelled, strategy)
    known = _label_columns(labels, _classes(classifier, proba.shape[1]))
    if known.size == 0:
        return np.empty((0, 0)), known
    rows = _representation(classifier, items, known.size, accept_sparse=True, strategy=strategy)
    return _unit_rows(rows), known


def _unit_rows(rows: Any) -> np.ndarray:
    return normalize(rows.toarray() if sp.issparse(rows) else rows).astype(np.float64)


def _novel_ranking(
    p: np.ndarray,
    quota: int,
    H: Any,
    seen: tuple[np.ndarray, np.ndarray],
    columns: Any,
) -> np.ndarray:
    """The ``2 * quota`` largest ``p`` (ties to the smaller position) in farthest-first order
    (cosine on ``H``) from the labelled items of ``columns`` and the items already ordered,
    then every other position by decreasing ``p``."""
    shortlist = _top_k(p, min(p.size, 2 * quota), largest=True)
    if shortlist.size == 0:
        return shortlist
    rows = _unit_rows(H[shortlist])
    labelled, known = seen
    centres = labelled[np.isin(known, columns)]
    # each candidate's largest similarity to a centre; -inf: no centre yet
    nearest = (
        (rows @ centres.T).max(axis=1) if centres.shape[0] else np.full(rows.shape[0], -np.inf)
    )
    order = np.empty(shortlist.size, dtype=np.int64)
    for i in range(shortlist.size):
        best = int(np.argmin(nearest))  # the farthest; ties to the more likely
        order[i] = best
        nearest = np.maximum(nearest, rows @ rows[best])
        nearest[best] = np.inf  # taken
    head = shortlist[order]
    rest = np.ones(p.size, dtype=bool)
    rest[head] = False
    tail = np.flatnonzero(rest)
    return np.concatenate([head, tail[np.lexsort((tail, -p[tail]))]])


def _round_robin(
    keys: np.ndarray, k: int, ranked: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` positions (fewer if the rankings run out) taken from the columns of ``keys`` in
    turn, each column its largest row not yet taken (ties to the smaller position), or its
    next row of ``ranked[column]`` where given, and the column that took each."""
    n, n_classes = keys.shape
    if ranked is None:
        ranked = [_top_k(keys[:, j], min(n, k), largest=True) for j in range(n_classes)]
    cursor = [0] * n_classes
    taken: set[int] = set()
    positions: list[int] = []
    columns: list[int] = []
    j = 0
    idle = 0  # columns in a row with nothing left
    while len(positions) < k and idle < n_classes:
        column = j % n_classes
        j += 1
        ranking = ranked[column]
        while cursor[column] < ranking.size and int(ranking[cursor[column]]) in taken:
            cursor[column] += 1
        if cursor[column] == ranking.size:
            idle += 1
            continue
        idle = 0
        position = int(ranking[cursor[column]])
        taken.add(position)
        positions.append(position)
        columns.append(column)
    return np.asarray(positions, dtype=np.int64), np.asarray(columns, dtype=np.int64)


def _minority_proba(
    classifier: Any,
    X: Any,
    n: int,
    minority: Any,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
    *,
    proba: np.ndarray | None = None,
) -> np.ndarray:
    """P(minority) of each item of ``X``: the classifier's probabilities of the minority
    classes, summed (a named class the classifier does not know is an error)."""
    if proba is None:
        proba = _predict_proba(classifier, X, n, strategy)
    columns = _minority_columns(
        minority,
        _classes(classifier, proba.shape[1]),
        strategy,
        classifier,
        labels,
        labelled_ids=labelled_ids,
        X_labelled=X_labelled,
    )
    return proba[:, columns].sum(axis=1)
