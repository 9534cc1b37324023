"""GALAXY and DIRECT: active learning on per-class 1-D chains sorted by margin score.

Both strategies sort the labelled and the candidate items, once per class ``k``, by the
margin score ``delta_k(x) = p_k(x) - max_{j != k} p_j(x)`` of the classifier, and look for
where, along each sorted list (a *chain*), the labels switch from ``k`` to "not ``k``". They
need the labelled items' probabilities, so they read the labelled set from the query-strategy
context (``X_labelled``, or ``labelled_ids`` for a classifier that takes ids, and ``labels``)
or from a modAL learner's ``X_training`` / ``y_training``.

With two classes the two chains mirror each other, so one chain is used. A label the
classifier does not know counts as "not ``k``" on every chain.

References: Zhang, Katz-Samuels & Nowak, *GALAXY: Graph-based Active Learning at the Extreme*,
ICML 2022; Nuggehalli, Zhang, Jain & Nowak, *DIRECT: Deep Active Learning under Imbalance and
Label Noise*, 2023. LabelBench (``LabelBench/strategy/strategy_impl/galaxy.py``,
``direct.py``) was read for the details; the code here is written from the papers.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from skanchor._ranking import top_k as _top_k
from skanchor.strategies._common import (
    _check_random_state,
    _margin,
    _n_items,
    _predict_proba,
    _result,
)
from skanchor.strategies.imbalance import (
    _CONTEXT,
    _check_n_instances,
    _classes,
    _label_columns,
    _labelled_set,
    _minority_columns,
)

__all__ = ["class_margins", "direct_sampling", "direct_threshold", "galaxy_sampling"]


def class_margins(proba: Any) -> np.ndarray:
    """Per-class margin scores ``delta_k = p_k - max_{j != k} p_j``, shape ``(n, n_classes)``.

    ``delta_k > 0`` exactly where ``k`` is the unique most probable class. With a single
    column the score is ``p_0`` itself (the missing classes have probability 0).

    Parameters
    ----------
    proba : array-like of shape (n_items, n_classes)
        Class probabilities.

    Returns
    -------
    ndarray of float64, shape (n_items, n_classes)
        The margin score of every item for every class.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be a 2-d (n_items, n_classes) array, got shape {proba.shape}")
    if proba.shape[1] == 1:
        return proba.copy()
    top = np.argmax(proba, axis=1)
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    others = np.repeat(top2[:, :1], proba.shape[1], axis=1)  # max over j != k is the top ...
    others[np.arange(proba.shape[0]), top] = top2[:, 1]  # ... except for the top class itself
    return proba - others


def direct_threshold(signs: Any, boundary: int | None = None) -> int:
    """The threshold that best separates class ``k`` on a chain.

    ``signs[i]`` is +1 for a labelled item of class ``k``, -1 for a labelled item of another
    class, 0 for an unlabelled item, in chain order (decreasing ``delta_k``). Threshold ``t``
    predicts ``k`` for the items before position ``t``; its score is (labelled items it gets
    right) - (labelled items it gets wrong), the agnostic empirical risk of DIRECT. The
    unlabelled items between two labelled ones cannot tell the thresholds among them apart,
    so the best score is usually tied over a range: the best threshold nearest ``boundary``
    is returned (the classifier's own threshold, where ``delta_k`` changes sign: the model
    breaks the tie), or, without one, the middle of the first best range.

    Parameters
    ----------
    signs : array-like of int, shape (n_items,)
        +1, -1 or 0 per chain position.
    boundary : int, optional
        Tie-breaking position in ``[0, n_items]``; the smaller threshold wins an exact tie.

    Returns
    -------
    int
        The threshold, in ``[0, n_items]``.
    """
    w = np.asarray(signs, dtype=np.int64)
    left = np.concatenate([[0], np.cumsum(w)])  # sum of w[:t]
    score = 2 * left - left[-1]  # sum w[:t] - sum w[t:]
    best = np.flatnonzero(score == score.max())
    if boundary is not None:
        return int(best[np.argmin(np.abs(best - boundary))])
    run_end = np.flatnonzero(np.diff(best) > 1)
    last = best[run_end[0]] if run_end.size else best[-1]
    return int(best[0] + last + 1) // 2


def _chain_inputs(
    classifier: Any,
    X: Any,
    n: int,
    labelled_ids: Any,
    labels: Any,
    X_labelled: Any,
    strategy: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities of candidates and labelled items stacked (candidates first), the
    ``predict_proba`` column of each labelled item's label, the classes, and the labels."""
    proba = _predict_proba(classifier, X, n, strategy)
    items, y = _labelled_set(classifier, labelled_ids, labels, X_labelled, strategy)
    if y.shape[0]:
        proba_lab = _predict_proba(classifier, items, y.shape[0], strategy)
        if proba_lab.shape[1] != proba.shape[1]:
            raise ValueError(
                f"{strategy}: predict_proba gave {proba.shape[1]} columns on X but "
                f"{proba_lab.shape[1]} on the labelled items"
            )
    else:
        proba_lab = np.empty((0, proba.shape[1]))
    classes = _classes(classifier, proba.shape[1])
    return np.vstack([proba, proba_lab]), _label_columns(y, classes), classes, y


def _chain_orders(delta: np.ndarray, chains: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Chain order (position -> node) and rank (node -> position) of each chain: decreasing
    ``delta_k``, the smaller node first on ties."""
    n_nodes = delta.shape[0]
    orders = np.stack([np.lexsort((np.arange(n_nodes), -delta[:, k])) for k in chains])
    ranks = np.empty_like(orders)
    rows = np.arange(len(chains))[:, None]
    ranks[rows, orders] = np.arange(n_nodes)
    return orders, ranks


# --------------------------------------------------------------------------------------------
# GALAXY
# --------------------------------------------------------------------------------------------


def _shortest_cut(state: np.ndarray) -> tuple[int, int, int] | None:
    """S²'s shortest shortest path: ``(gap, chain, midpoint)`` of the shortest run of
    unlabelled positions between two consecutive labelled positions of different labels."""
    best = None
    for c, s in enumerate(state):
        p = np.flatnonzero(s)
        if p.size < 2:
            continue
        gaps = np.diff(p) - 1
        cut = (s[p[:-1]] != s[p[1:]]) & (gaps > 0)
        if cut.any():
            i = np.flatnonzero(cut)[np.argmin(gaps[cut])]
            key = (int(gaps[i]), c, int(p[i] + p[i + 1]) // 2)
            best = key if best is None or key < best else best
    return best


def _nearest_to_cut(state: np.ndarray) -> tuple[int, int, int] | None:
    """``(distance, chain, position)`` of the unlabelled position nearest to a cut edge (two
    adjacent labelled positions of different labels), over every chain."""
    best = None
    for c, s in enumerate(state):
        p = np.flatnonzero(s)
        if p.size < 2:
            continue
        edges = p[:-1][(s[p[:-1]] != s[p[1:]]) & (np.diff(p) == 1)]  # left end of each cut
        free = np.flatnonzero(s == 0)
        if not edges.size or not free.size:
            continue
        j = np.searchsorted(edges, free)  # edges strictly left of each free position
        right = np.where(j < edges.size, edges[np.minimum(j, edges.size - 1)] - free, np.inf)
        left = np.where(j > 0, free - edges[np.maximum(j - 1, 0)] - 1, np.inf)
        dist = np.minimum(left, right)
        i = int(np.argmin(dist))
        key = (int(dist[i]), c, int(free[i]))
        best = key if best is None or key < best else best
    return best


@validate_params(_CONTEXT, prefer_skip_nested_validation=True)
def galaxy_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    labelled_ids: Any = None,
    labels: Any = None,
    X_labelled: Any = None,
    random_state: Any = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """GALAXY (Zhang, Katz-Samuels & Nowak, ICML 2022): S² bisection on per-class margin chains.

    For each class ``k`` the labelled items and the items of ``X`` form a path graph sorted by
    decreasing margin score ``delta_k`` (:func:`class_margins`); a labelled node is +1 if its
    label is ``k`` and -1 otherwise. Each query is chosen like S² on the union of the chains:

    1. the *shortest shortest path*: among all runs of unlabelled nodes between two
       consecutive labelled nodes of different signs (a cut path), the shortest one, over every
       chain; its middle node is queried (bisection, which finds the cut edge in a logarithmic
       number of queries);
    2. when no cut path holds an unlabelled node, the unlabelled node nearest to a cut edge
       along a chain (GALAXY's exploitation of the boundary);
    3. when there is no cut edge at all (a single labelled class, say), the smallest top-2
       margin (uncertainty).

    Ties go to the lower class, then to the earlier chain position.

    **Deliberate deviation — batches.** GALAXY and LabelBench reveal each queried label before
    choosing the next query of the batch; a modAL strategy returns the whole batch before any
    label comes back. Here each query is provisionally labelled with the classifier's
    prediction (the "believer" approximation of sequential batch selection) and the search goes
    on with that; with a correct model this is exactly the sequential algorithm. Unlike
    LabelBench, which draws a random class per query, the shortest path is searched over all
    chains (as S² on the union graph of the paper), and the last fallback is the margin, not a
    random node, so the selection is deterministic (``random_state`` is not used).

    Cost: ``O(n_instances * n_chains * (n + n_labelled))`` plus one sort per chain.

    Parameters
    ----------
    classifier : object
        A fitted classifier with ``predict_proba`` (or a modAL learner / Pipeline of one).
    X : array-like, sparse matrix or list
        The candidate items, as the classifier takes them.
    n_instances : int, default=1
        Number of items to select.
    labelled_ids, labels, X_labelled : optional
        Query-strategy context: the labelled items (``X_labelled``, or ``labelled_ids`` for a
        classifier that takes ids) and their labels; a modAL learner's ``X_training`` /
        ``y_training`` are the fallback.
    random_state : None, int or RandomState
        Not used.
    **kwargs
        Ignored (modAL passes extra keywords along).

    Returns
    -------
    positions : ndarray of int64, shape (n_instances,)
        Positions into ``X``, in selection order.
    scores : ndarray of float64, shape (n_instances,)
        Step 1: the number of unlabelled nodes on the path that was bisected; step 2: the chain
        distance to the nearest cut edge; step 3: the top-2 margin.
    """
    strategy = "galaxy_sampling"
    n = _n_items(X)
    n_instances = _check_n_instances(n_instances, n, strategy)
    proba, label_cols, _, _ = _chain_inputs(
        classifier, X, n, labelled_ids, labels, X_labelled, strategy
    )
    n_classes = proba.shape[1]
    margin = _margin(proba[:n])
    if n_classes == 1:
        positions = _top_k(margin, n_instances, largest=False)
        return _result(positions, margin[positions])
    chains = [1] if n_classes == 2 else list(range(n_classes))
    orders, ranks = _chain_orders(class_margins(proba), chains)
    chain_cls = np.asarray(chains)[:, None]
    pred = np.argmax(proba, axis=1)
    # state[c, position]: +1 / -1 labelled (or provisionally labelled) on chain c, 0 free
    state = np.zeros(orders.shape, dtype=np.int8)
    lab_nodes = np.arange(n, proba.shape[0])
    lab_sign = np.where(label_cols[None, :] == chain_cls, 1, -1).astype(np.int8)
    state[np.arange(len(chains))[:, None], ranks[:, lab_nodes]] = lab_sign
    pred_sign = np.where(pred[None, :] == chain_cls, 1, -1).astype(np.int8)
    taken = np.zeros(n, dtype=bool)

    positions = np.empty(n_instances, dtype=np.int64)
    scores = np.empty(n_instances, dtype=np.float64)
    for step in range(n_instances):
        found = _shortest_cut(state) or _nearest_to_cut(state)
        if found is not None:
            score, c, pos = found
            node = int(orders[c, pos])
        else:
            free = np.flatnonzero(~taken)
            node = int(free[_top_k(margin[free], 1, largest=False)[0]])
            score = margin[node]
        taken[node] = True
        state[np.arange(len(chains)), ranks[:, node]] = pred_sign[:, node]
        positions[step] = node
        scores[step] = score
    return _result(positions, scores)


# --------------------------------------------------------------------------------------------
# DIRECT
# --------------------------------------------------------------------------------------------


def _disagreement_region(signs: np.ndarray) -> tuple[int, int]:
    """DIRECT's version space ``[I, J]`` on a chain: from the last +1 of the leading run of
    +1s (before the first -1) to the first -1 of the trailing run of -1s (after the last +1);
    the whole chain when the labels do not allow better."""
    p = np.flatnonzero(signs)
    v = signs[p]
    neg, pos = np.flatnonzero(v < 0), np.flatnonzero(v > 0)
    if not neg.size or not pos.size:
        return 0, signs.size - 1
    lo = int(p[neg[0] - 1]) if neg[0] > 0 else 0
    hi = int(p[pos[-1] + 1]) if pos[-1] + 1 < p.size else signs.size - 1
    return lo, hi


def _split_batch(n_instances: int, n_chains: int) -> list[int]:
    """``n_instances`` split evenly over the chains; the first chains get the remainder."""
    base, extra = divmod(n_instances, n_chains)
    return [base + (i < extra) for i in range(n_chains)]


@validate_params(
    {**_CONTEXT, "vsr_share": [Interval(Real, 0, 1, closed="both")]},
    prefer_skip_nested_validation=True,
)
def direct_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    vsr_share: float = 0.5,
    minority: Any = None,
    labelled_ids: Any = None,
    labels: Any = None,
    X_labelled: Any = None,
    random_state: Any = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """DIRECT (Nuggehalli, Zhang, Jain & Nowak, 2023): per-class thresholds on margin chains.

    For each class ``k`` the labelled items and the items of ``X`` are sorted by decreasing
    margin score ``delta_k`` (:func:`class_margins`). On that 1-D list DIRECT runs agnostic
    active learning of a threshold classifier ("``k`` before the threshold"):

    1. the **best threshold** is the one that separates the labelled items best (most right
       minus wrong, :func:`direct_threshold`); of the tied ones, the nearest to the
       classifier's own boundary (``delta_k = 0``);
    2. **version-space reduction**: ``floor(vsr_share * share_k)`` items are drawn uniformly
       from the unlabelled items of the disagreement region (from the last ``k`` of the
       leading run of ``k``-labelled items to the first other-class item of the trailing run),
       where thresholds consistent with the labels can still lie;
    3. the rest of the class's share are the unlabelled items **nearest to the threshold**,
       alternating sides (left first), i.e. the most uncertain items of that class.

    **Batch split.** With two classes one chain is used (the minority's; the other mirrors it)
    and it gets the whole batch. With more, the batch is split evenly over the classes, the
    remainder going to the first ones, in the order: minority classes first (``minority``;
    default the rarest labelled class), then the others by increasing number of labelled
    items (ties by class order). A class whose region runs dry leaves its unused version-space
    share to its threshold queries; items are never selected twice.

    **Deliberate deviation — batches.** DIRECT (and LabelBench) reduce the version space over
    several steps of ``B1`` parallel queries, each revealing labels before the next; a modAL
    strategy gets no labels during a batch, so only the first step is taken here (LabelBench's
    ``B1=20`` exceeds a class's share of a 25-item batch, so its first step is this one too)
    and the next round's threshold uses the new labels. LabelBench breaks ties between best
    thresholds by taking the first; here the classifier's boundary breaks them (on an
    imbalanced chain the first one hugs the labelled minority items and the middle of the
    range lies deep in the majority).

    Parameters
    ----------
    classifier : object
        A fitted classifier with ``predict_proba`` (or a modAL learner / Pipeline of one).
    X : array-like, sparse matrix or list
        The candidate items, as the classifier takes them.
    n_instances : int, default=1
        Number of items to select.
    vsr_share : float in [0, 1], default=0.5
        Share of each class's batch drawn from the disagreement region (DIRECT spends half).
    minority : label or list of labels, default=None
        The minority class(es), served first; ``None`` is the rarest class of the labelled set
        (also what leads while no named minority class has a label yet).
    labelled_ids, labels, X_labelled : optional
        Query-strategy context: the labelled items (``X_labelled``, or ``labelled_ids`` for a
        classifier that takes ids) and their labels; a modAL learner's ``X_training`` /
        ``y_training`` are the fallback.
    random_state : None, int, RandomState or Generator
        Seeds the version-space draws.
    **kwargs
        Ignored (modAL passes extra keywords along).

    Returns
    -------
    positions : ndarray of int64, shape (n_instances,)
        Positions into ``X``, class by class.
    scores : ndarray of float64, shape (n_instances,)
        The chain distance of each item to its class's threshold (1 = next to it).
    """
    strategy = "direct_sampling"
    n = _n_items(X)
    n_instances = _check_n_instances(n_instances, n, strategy)
    proba, label_cols, classes, y = _chain_inputs(
        classifier, X, n, labelled_ids, labels, X_labelled, strategy
    )
    n_classes = proba.shape[1]
    if n_classes == 1:
        margin = _margin(proba[:n])
        positions = _top_k(margin, n_instances, largest=False)
        return _result(positions, margin[positions])
    minority_cols = _minority_columns(minority, classes, strategy, labels=y, allow_unseen=True)
    if minority_cols.size == 0:  # no named minority class labelled yet: the rarest one leads
        minority_cols = _minority_columns(None, classes, strategy, labels=y)
    if n_classes == 2:
        chains = [int(minority_cols[0])]
    else:
        counts = np.bincount(label_cols[label_cols >= 0], minlength=n_classes)
        is_minority = np.isin(np.arange(n_classes), minority_cols)
        chains = np.lexsort((np.arange(n_classes), counts, ~is_minority)).tolist()
    delta = class_margins(proba)
    orders, _ = _chain_orders(delta, chains)
    rng = _check_random_state(random_state)
    taken = np.zeros(proba.shape[0], dtype=bool)
    taken[n:] = True  # labelled nodes are never candidates
    lab_cols = np.concatenate([np.full(n, -2), label_cols])

    positions: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    carry = 0
    for c, (k, share) in enumerate(
        zip(chains, _split_batch(n_instances, len(chains)), strict=True)
    ):
        share += carry
        order = orders[c]
        col = lab_cols[order]
        signs = np.where(col == -2, 0, np.where(col == k, 1, -1))
        boundary = int(np.count_nonzero(delta[order, k] > 0))  # delta_k sorted decreasingly
        threshold = direct_threshold(signs, boundary)
        free = np.flatnonzero(~taken[order])  # chain positions still available
        lo, hi = _disagreement_region(signs)
        region = free[(free >= lo) & (free <= hi)]
        n_vsr = min(int(np.floor(vsr_share * share)), region.size)
        drawn = np.sort(rng.choice(region, n_vsr, replace=False)) if n_vsr else region[:0]
        rest = np.setdiff1d(free, drawn, assume_unique=True)
        left = rest < threshold
        dist = np.where(left, threshold - rest, rest - threshold + 1)
        near = rest[np.lexsort((~left, dist))][: share - n_vsr]
        chosen = np.concatenate([drawn, near])
        carry = share - chosen.size
        taken[order[chosen]] = True
        positions.append(order[chosen])
        d = np.where(chosen < threshold, threshold - chosen, chosen - threshold + 1)
        scores.append(d.astype(np.float64))
    return _result(np.concatenate(positions), np.concatenate(scores))
