"""Tasks: an unlabelled pool, its hidden labels (the oracle), a held-out test set, the minority.

A :class:`Corpus` is labelled text as it comes (one label per document, or a tuple of labels
for multi-label corpora such as Reuters or AmazonCat-13k, and the corpus's own train/test
split when it has one). :func:`make_task` turns it into a :class:`Task` the way the AnchorAL
paper prepares its data (App. B.2):

- **binary** (one minority class): one-vs-rest; every other class becomes the majority
  (``"others"``; a two-class corpus keeps the other class's name);
- **multiclass** (several minority classes): each minority class stays a class and every
  other document goes to one ``"others"`` majority class (a multi-label document takes the
  first listed minority class it carries);
- the minority classes are downsampled to ``rate`` of the **pool** (default 1%), never in the
  test set; ``rate=None`` keeps the natural imbalance (Reuters, AmazonCat-13k);
- the test majority can be capped (``max_test_majority``; the paper caps it at 5,000);
- a corpus without a split is split at random, stratified by task label (``test_size``).

Every random choice comes from ``seed``, so a task is a pure function of its arguments; its
:meth:`Task.fingerprint` identifies it in results manifests.

>>> corpus = Corpus(
...     "toy", texts=[f"doc {i}" for i in range(400)],
...     labels=["a"] * 200 + ["b"] * 150 + ["c"] * 50)
>>> task = make_task(corpus, ["c"], rate=0.05, test_size=0.25, seed=0)
>>> task.classes, task.minority, task.majority
(('c', 'others'), ('c',), ('others',))
>>> task.counts()["pool"]
{'c': 14, 'others': 262}
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["Corpus", "Task", "make_task"]

#: Label of the merged majority class in one-vs-rest and multiclass tasks.
OTHERS = "others"


def _as_text_array(texts: Any, name: str = "texts") -> np.ndarray:
    arr = np.empty(len(texts), dtype=object)
    arr[:] = [str(t) if t is not None else "" for t in texts]
    return arr


def _label_str(value: Any) -> str:
    """A label as text: ``True`` (as a CSV of it says, and as ``skanchor label`` shows it),
    ``3`` for ``3.0``, surrounding spaces stripped."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass
class Corpus:
    """Labelled documents as a source provides them.

    Parameters
    ----------
    name : str
        Short name (recorded in manifests).
    texts : sequence of str
    labels : sequence
        One label per document (converted to ``str``), or for a multi-label corpus
        (``multilabel=True``) a list of labels per document (possibly empty; a single label
        counts as a list of one).
    split : sequence of str, optional
        The corpus's own split per document (``"train"``, ``"test"``, anything else is
        ignored). Without it :func:`make_task` splits at random.
    multilabel : bool, default=False
    description : str
        One line for reports.
    notes : tuple of str, default=()
        What loading changed (rows left out), repeated in the task's summary.
    """

    name: str
    texts: Any
    labels: Any
    split: Any = None
    multilabel: bool = False
    description: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.texts = _as_text_array(self.texts)
        n = self.texts.size
        labels = np.empty(n, dtype=object)
        if len(self.labels) != n:
            raise ValueError(f"corpus {self.name!r}: {len(self.labels)} labels for {n} texts")
        if self.multilabel:
            labels[:] = [_label_tuple(ls) for ls in self.labels]
        else:
            labels[:] = [_label_str(v) for v in self.labels]
        self.labels = labels
        if self.split is not None:
            split = np.empty(n, dtype=object)
            if len(self.split) != n:
                raise ValueError(
                    f"corpus {self.name!r}: {len(self.split)} split values for {n} texts"
                )
            split[:] = [str(s) for s in self.split]
            self.split = split

    def __len__(self) -> int:
        return int(self.texts.size)

    def classes(self) -> list[str]:
        """Every label that occurs, sorted."""
        if self.multilabel:
            return sorted({label for labels in self.labels for label in labels})
        return sorted(set(self.labels.tolist()))


@dataclass
class Task:
    """An active-learning task: pool texts, hidden pool labels, test set, minority classes.

    Pool items are identified by their position ``0 .. n_pool - 1`` (the ids of the vector
    index), in an order shuffled by the task's seed; test items are never in the pool.
    """

    name: str
    pool_texts: np.ndarray
    pool_labels: np.ndarray
    test_texts: np.ndarray
    test_labels: np.ndarray
    minority: tuple[str, ...]
    classes: tuple[str, ...]
    params: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def majority(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if c not in self.minority)

    @property
    def n_pool(self) -> int:
        return int(self.pool_texts.size)

    def oracle(self, ids: Any) -> np.ndarray:
        """The true labels of pool ``ids`` (what an annotator would answer)."""
        return self.pool_labels[np.asarray(ids, dtype=np.int64)]

    def is_minority(self, labels: Any) -> np.ndarray:
        return np.isin(np.asarray(labels, dtype=object), list(self.minority))

    def counts(self) -> dict[str, dict[str, int]]:
        """Items per class in the pool and the test set (Table 4 of the paper)."""

        def count(labels: np.ndarray) -> dict[str, int]:
            values, n = np.unique(labels.astype(str), return_counts=True)
            found = dict(zip(values.tolist(), n.tolist(), strict=True))
            return {c: int(found.get(c, 0)) for c in self.classes}

        return {"pool": count(self.pool_labels), "test": count(self.test_labels)}

    def summary(self) -> str:
        """A few lines: sizes and class shares of the pool and the test set."""
        lines = [f"task {self.name}: minority {', '.join(self.minority)}"]
        for part, counts in self.counts().items():
            total = sum(counts.values())
            cells = ", ".join(
                f"{c} {n:,} ({100 * n / max(total, 1):.2f}%)" for c, n in counts.items()
            )
            lines.append(f"  {part}: {total:,} items: {cells}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """SHA-256 of the pool and test texts and labels (identifies the task on resume).

        Computed once per task object (the task is not meant to be modified).
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is not None:
            return cached
        h = hashlib.sha256()
        for part in (self.pool_texts, self.pool_labels, self.test_texts, self.test_labels):
            h.update(str(part.size).encode())
            for value in part.tolist():
                h.update(str(value).encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
        h.update(repr((self.minority, self.classes)).encode())
        self.__dict__["_fingerprint"] = h.hexdigest()
        return self.__dict__["_fingerprint"]


def _label_tuple(cell: Any) -> tuple[str, ...]:
    """The labels of one document of a multi-label corpus: a list of them, none (None), or a
    single label (a string is one label, not its characters)."""
    if cell is None:
        return ()
    if isinstance(cell, (str, bytes)) or not isinstance(cell, (list, tuple, np.ndarray)):
        return (_label_str(cell),)
    return tuple(_label_str(v) for v in cell)


def _taken_by_earlier(corpus: Corpus, minority: tuple[str, ...], label: str) -> str:
    """For a multi-label corpus: how many documents of ``label`` went to a minority class
    listed before it (a document takes the first listed class it carries)."""
    if not corpus.multilabel:
        return ""
    carry = sum(label in labels for labels in corpus.labels)
    n = carry - sum(
        label in labels and not any(c in labels for c in minority[: minority.index(label)])
        for labels in corpus.labels
    )
    if not n:
        return ""
    return (
        f"; {n:,} of the {carry:,} documents that carry it went to a class listed before it, "
        "as a document takes the first listed minority class it carries: list it earlier"
    )


def _task_labels(corpus: Corpus, minority: tuple[str, ...], others: str) -> tuple[np.ndarray, str]:
    """Per-document task label and the name of the majority class; a document of a
    multi-label corpus takes the first class of ``minority`` that it carries."""
    if corpus.multilabel:
        order = {c: i for i, c in enumerate(minority)}
        out = np.empty(len(corpus), dtype=object)
        for i, labels in enumerate(corpus.labels):
            hits = [c for c in labels if c in order]
            out[i] = min(hits, key=order.__getitem__) if hits else others
        return out, others
    classes = corpus.classes()
    majority = others
    if len(minority) == 1 and len(classes) == 2:
        majority = next(c for c in classes if c != minority[0])  # binary corpus: keep its name
    out = np.where(np.isin(corpus.labels, list(minority)), corpus.labels, majority)
    return out.astype(object), majority


def _unsplit_note(corpus: Corpus) -> tuple[str, ...]:
    """The documents a split column leaves out of both parts (``validation``, ...), said."""
    if corpus.split is None:
        return ()
    other = corpus.split[~np.isin(corpus.split, ["train", "test"])]
    if not other.size:
        return ()
    values = ", ".join(repr(v) for v in sorted(set(other.tolist()))[:5])
    return (f"{other.size:,} documents of split {values} (not train or test) left out",)


def _split(
    corpus: Corpus, y: np.ndarray, test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the train (pool) and test documents."""
    if corpus.split is not None:
        train = np.flatnonzero(corpus.split == "train")
        test = np.flatnonzero(corpus.split == "test")
        if train.size and test.size:
            return train, test
        raise ValueError(
            f"corpus {corpus.name!r} has a split column without both 'train' and 'test' "
            f"documents (values: {sorted(set(corpus.split.tolist()))[:10]})"
        )
    test_parts = []
    for label in sorted(set(y.tolist())):
        members = np.flatnonzero(y == label)
        # at least one item on each side of a class that has two (round() goes to even: 0.5 -> 0)
        n_test = min(max(round(test_size * members.size), 1), members.size - 1)
        test_parts.append(rng.choice(members, n_test, replace=False))
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(np.arange(len(y)), test)
    return train, test


_POSITIVE_OR_NONE = [Interval(Integral, 1, None, closed="left"), None]


@validate_params(
    {
        "corpus": [Corpus],
        "minority": [str, "array-like"],
        "rate": [Interval(Real, 0, 1, closed="neither"), None],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "max_test_majority": _POSITIVE_OR_NONE,
        "pool_size": _POSITIVE_OR_NONE,
        "others_label": [str],
        "max_chars": _POSITIVE_OR_NONE,
        "seed": [Interval(Integral, 0, None, closed="left")],
        "name": [str, None],
    },
    prefer_skip_nested_validation=True,
)
def make_task(
    corpus: Corpus,
    minority: str | Sequence[str],
    *,
    rate: float | None = 0.01,
    test_size: float = 0.25,
    max_test_majority: int | None = None,
    pool_size: int | None = None,
    others_label: str = OTHERS,
    max_chars: int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Task:
    """Build a :class:`Task` from a corpus (see the module docstring for the recipe).

    Parameters
    ----------
    corpus : Corpus
    minority : str or sequence of str
        The minority class(es). One gives a binary task, several a multiclass task.
    rate : float or None, default=0.01
        Share of the pool each minority class is downsampled to (classes already rarer
        are kept whole). ``None`` keeps the natural imbalance.
    test_size : float, default=0.25
        Test share of a corpus that has no split of its own.
    max_test_majority : int, optional
        Keep at most this many majority items in the test set (drawn at random).
    pool_size : int, optional
        Make the pool at most this large (the majority is subsampled first, then the
        minority is downsampled to ``rate`` of it; with ``rate=None`` the whole pool is
        subsampled uniformly). For quick experiments on large corpora.
    others_label : str, default="others"
        Name of the merged majority class.
    max_chars : int, optional
        Truncate every text to its first ``max_chars`` characters (cheaper embedding).
    seed : int, default=0
        Seeds the split and the downsampling.
    name : str, optional
        Task name; defaults to ``"{corpus}-{minority}"``.
    """
    minority = tuple(
        _label_str(m) for m in ((minority,) if isinstance(minority, str) else minority)
    )
    if not minority:
        raise ValueError("minority must name at least one class")
    if len(set(minority)) != len(minority):
        raise ValueError(f"minority lists a class twice: {list(minority)}")
    available = corpus.classes()
    unknown = [m for m in minority if m not in available]
    if unknown:
        shown = ", ".join(available[:40]) + (", ..." if len(available) > 40 else "")
        raise ValueError(
            f"minority class {unknown[0]!r} does not occur in corpus {corpus.name!r}; "
            f"its classes: {shown}"
        )
    if rate is not None and rate * len(minority) >= 1:
        raise ValueError(
            f"rate={rate} leaves no room for the majority with {len(minority)} classes"
        )

    rng = np.random.default_rng(seed)
    y, majority = _task_labels(corpus, minority, others_label)
    if majority in minority:  # the merged majority would take a minority class's name
        raise ValueError(f"others_label={others_label!r} is also a minority class")
    train, test = _split(corpus, y, test_size, rng)

    # Pool: cap the majority, then downsample each minority class to `rate` of the pool.
    is_min_train = np.isin(y[train], list(minority))
    maj_train = train[~is_min_train]
    if pool_size is not None:
        if rate is None:
            if train.size > pool_size:
                train = np.sort(rng.choice(train, pool_size, replace=False))
                is_min_train = np.isin(y[train], list(minority))
                maj_train = train[~is_min_train]
        else:
            cap = max(1, math.floor(pool_size * (1 - rate * len(minority))))
            if maj_train.size > cap:
                maj_train = np.sort(rng.choice(maj_train, cap, replace=False))
    pool_parts = [maj_train]
    for label in minority:
        members = train[y[train] == label]
        if rate is not None:
            # rounded first: 0.01 * 1960 / 0.98 is 20.000000000000004, not 20
            target = math.ceil(round(rate * maj_train.size / (1 - rate * len(minority)), 9))
            if members.size > target:
                members = rng.choice(members, target, replace=False)
        pool_parts.append(members)
    pool = np.sort(np.concatenate(pool_parts))

    # Test: every minority item, the majority optionally capped.
    test_major = test[~np.isin(y[test], list(minority))]
    if max_test_majority is not None and test_major.size > max_test_majority:
        test_major = rng.choice(test_major, max_test_majority, replace=False)
    test = np.sort(np.concatenate([test_major, test[np.isin(y[test], list(minority))]]))

    # Shuffled, so that ids (pool positions) say nothing about labels or source order.
    pool, test = rng.permutation(pool), rng.permutation(test)
    for label in minority:
        for part, ids in (("pool", pool), ("test set", test)):
            if not (y[ids] == label).any():
                n = int((y == label).sum())
                earlier = _taken_by_earlier(corpus, minority, label)
                raise ValueError(
                    f"minority class {label!r} is absent from the {part} of corpus "
                    f"{corpus.name!r} ({n} item{'s' if n != 1 else ''} in the corpus"
                    + (", split by its split column" if corpus.split is not None else "")
                    + f"{earlier}); choose a class with more items"
                    + (" or a larger rate" if part == "pool" and rate is not None else "")
                    + (" or a split column" if part == "test set" and corpus.split is None else "")
                )
    if majority not in set(y[pool].tolist()):
        raise ValueError(f"the pool of corpus {corpus.name!r} has no majority item")

    texts = corpus.texts
    if max_chars is not None:
        texts = _as_text_array([t[:max_chars] for t in texts])
    classes = tuple(sorted({*minority, majority}))
    params = {
        "corpus": corpus.name,
        "minority": list(minority),
        "rate": rate,
        "test_size": test_size if corpus.split is None else None,
        "max_test_majority": max_test_majority,
        "pool_size": pool_size,
        "others_label": others_label,
        "max_chars": max_chars,
        "seed": seed,
    }
    return Task(
        name=name or f"{corpus.name}-{'+'.join(minority)}",
        pool_texts=texts[pool],
        pool_labels=y[pool].astype(object),
        test_texts=texts[test],
        test_labels=y[test].astype(object),
        minority=minority,
        classes=classes,
        params=params,
        notes=tuple(corpus.notes) + _unsplit_note(corpus),
    )
