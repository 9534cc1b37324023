"""TransformerClassifier: the skorch/Hugging Face text classifier and its training protocol.

Unit tests use the tiny random BERT of ``conftest`` (and tiny DistilBERT / GPT-2 built from
configs), all offline; the one ``slow`` test fine-tunes the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("transformers")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skanchor.models import (  # noqa: E402
    AUTO_DEVICE,
    IdsToTexts,
    TextCollator,
    TransformerClassifier,
    check_texts,
    train_minority_f1,
)
from skanchor.strategies import (  # noqa: E402
    SupportsJointRepresentation,
    SupportsRepresentation,
    badge_sampling,
    get_representation,
)

REPO = Path(__file__).resolve().parents[1]

POS = ["good movie", "great film", "a good film", "great movie", "good plot", "a great actor"]
NEG = ["bad movie", "awful film", "a bad plot", "awful movie", "bad actor", "an awful plot"]
SPAM = ["free prize call now", "win money now", "call now to win"]
TEXTS = np.array(POS + NEG + SPAM, dtype=object)
LABELS = np.array(["pos"] * 6 + ["neg"] * 6 + ["spam"] * 3, dtype=object)

# Small and quick: 15 texts in batches of 8 (2 batches per epoch), short sequences.
FAST = {"max_length": 16, "batch_size": 8, "max_epochs": 2, "min_steps": 0}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test here runs with one torch thread (see conftest)."""


def make_clf(path, **params) -> TransformerClassifier:
    return TransformerClassifier(path, **{**FAST, "random_state": 0, **params})


@pytest.fixture(scope="module")
def fitted(tiny_bert) -> TransformerClassifier:
    return make_clf(tiny_bert).fit(TEXTS, LABELS)


def _state(clf: TransformerClassifier) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in clf.module_.state_dict().items()}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- fit / predict ---------------------------------------------------------------------------


def test_fit_predict_proba_classes(fitted):
    proba = fitted.predict_proba(list(TEXTS[:5]))
    assert proba.shape == (5, 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.classes_.tolist() == ["neg", "pos", "spam"]
    predicted = fitted.predict(TEXTS)
    assert set(predicted.tolist()) <= {"neg", "pos", "spam"}
    np.testing.assert_array_equal(predicted, fitted.classes_[proba_argmax(fitted, TEXTS)])
    assert 0.0 <= fitted.score(TEXTS, LABELS) <= 1.0
    assert fitted.minority_labels_.tolist() == ["spam"]  # rarer than the most frequent class


def proba_argmax(clf, X):
    return clf.predict_proba(X).argmax(axis=1)


def test_accepts_arrays_series_and_numpy_strings(fitted):
    pd = pytest.importorskip("pandas")
    reference = fitted.predict_proba(list(TEXTS[:4]))
    for X in (
        tuple(TEXTS[:4]),
        np.array(TEXTS[:4].tolist()),
        pd.Series(TEXTS[:4]),
        TEXTS[:4, None],
    ):
        np.testing.assert_allclose(fitted.predict_proba(X), reference, rtol=1e-5, atol=1e-6)


def test_learns_a_separable_task(tiny_bert):
    y = np.where(LABELS == "spam", "spam", "review")
    clf = make_clf(tiny_bert, lr=3e-3, max_epochs=20, callbacks__early_stopping=None)
    clf.fit(TEXTS, y)
    assert clf.score(TEXTS, y) == 1.0
    losses = clf.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_integer_labels_and_classes_param(tiny_bert):
    y = np.r_[np.zeros(6, int), np.ones(6, int), np.full(3, 2)]
    clf = make_clf(tiny_bert, classes=[0, 1, 2, 3]).fit(TEXTS, y)
    assert clf.classes_.tolist() == [0, 1, 2, 3]
    assert clf.predict_proba(TEXTS[:2]).shape == (2, 4)
    # class 3 has no labelled item: it is rarer than the most frequent class
    assert clf.minority_labels_.tolist() == [2, 3]
    with pytest.raises(ValueError, match="not among classes_"):
        make_clf(tiny_bert, classes=[0, 1]).fit(TEXTS, y)


def test_minority_labels(tiny_bert):
    clf = make_clf(tiny_bert, minority_labels=["neg"]).fit(TEXTS, LABELS)
    assert clf.minority_labels_.tolist() == ["neg"] and clf.minority_indices_.tolist() == [0]
    balanced = make_clf(tiny_bert).fit(TEXTS[:12], LABELS[:12])
    assert balanced.minority_labels_.tolist() == ["neg", "pos"]  # balanced: every class
    # a rare class not labelled yet (classes read from y) waits for its first label; the
    # run's minority (skanchor run, skanchor label) is passed before it is found
    waiting = make_clf(tiny_bert, minority_labels=["ham", "spam"]).fit(TEXTS, LABELS)
    assert waiting.minority_labels_.tolist() == ["spam"]
    unseen = make_clf(tiny_bert, minority_labels=["ham"]).fit(TEXTS, LABELS)
    assert unseen.minority_labels_.tolist() == ["spam"]  # as minority_labels=None
    # with the classes given, a minority class outside them is an error
    with pytest.raises(ValueError, match=r"minority_labels=.*subset of classes_"):
        make_clf(tiny_bert, minority_labels=["ham"], classes=["neg", "pos", "spam"]).fit(
            TEXTS, LABELS
        )


def test_max_length_beyond_the_model_positions_is_refused_at_fit(tiny_bert):
    with pytest.raises(ValueError, match=r"max_length=129 is more than the 128 token positions"):
        make_clf(tiny_bert, max_length=129).fit(TEXTS, LABELS)
    assert make_clf(tiny_bert, max_length=128).fit(TEXTS, LABELS).predict_proba(TEXTS).shape == (
        15,
        3,
    )


def test_set_params_classes_takes_effect_at_the_next_fit(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    before = clf.predict(TEXTS)
    clf.set_params(classes=["spam", "pos", "neg"])
    assert clf.classes_.tolist() == ["neg", "pos", "spam"]
    assert np.array_equal(clf.predict(TEXTS), before)
    assert clf.fit(TEXTS, LABELS).classes_.tolist() == ["spam", "pos", "neg"]
    assert not hasattr(make_clf(tiny_bert), "classes_")


def test_partial_fit_classes_fix_the_labels_of_a_first_one_class_batch(tiny_bert):
    clf = make_clf(tiny_bert)
    clf.partial_fit(TEXTS[:6], LABELS[:6], classes=["neg", "pos", "spam"])
    assert clf.classes_.tolist() == ["neg", "pos", "spam"]
    assert clf.predict_proba(TEXTS[:2]).shape == (2, 3)
    clf.partial_fit(TEXTS[12:], LABELS[12:], classes=["ignored", "later"])
    assert clf.classes_.tolist() == ["neg", "pos", "spam"]
    with pytest.raises(ValueError, match=r"y has a single class"):
        make_clf(tiny_bert).partial_fit(TEXTS[:6], LABELS[:6])  # classes unknown


# --- scikit-learn conventions -------------------------------------------------------------------


def test_get_params_clone_set_params(tiny_bert, fitted):
    clf = make_clf(tiny_bert, patience=3)
    params = clf.get_params(deep=False)
    for name, value in {
        "checkpoint": tiny_bert,
        "max_length": 16,
        "patience": 3,
        "min_steps": 0,
        "lr": 4e-5,
        "batch_size": 8,
        "train_split": None,
        "optimizer": torch.optim.AdamW,
        "criterion": torch.nn.CrossEntropyLoss,
        "device": "auto",
    }.items():
        assert params[name] == value, name
    assert clf.get_params()["callbacks__early_stopping__patience"] == 3
    twin = clone(clf)
    assert twin.get_params(deep=False).keys() == params.keys()
    assert twin.set_params(max_length=8, tokenizer=tiny_bert) is twin
    assert twin.max_length == 8 and clf.max_length == 16
    refitted = clone(fitted)
    assert not hasattr(refitted, "module_") and refitted.checkpoint == fitted.checkpoint
    with pytest.raises(NotFittedError):
        refitted.predict_proba(["good movie"])


def test_device_is_resolved_at_fit_not_at_import(tiny_bert, monkeypatch):
    """``get_params`` is the same on every machine; ``fit`` resolves "auto" into ``device_``."""
    params = {}
    for available in (False, True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda a=available: a)
        clf = make_clf(tiny_bert)
        params[available] = clf.get_params(deep=False)
        assert clf._device == ("cuda" if available else "cpu")  # what fit would pick
    assert params[False] == params[True] and params[True]["device"] == AUTO_DEVICE
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fitted = make_clf(tiny_bert).fit(TEXTS, LABELS)
    assert fitted.device == "auto" and fitted.device_ == "cpu"
    assert next(fitted.module_.parameters()).device.type == "cpu"
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.device == "auto" and restored.device_ == "cpu"
    explicit = make_clf(tiny_bert, device="cpu").fit(TEXTS[:12], LABELS[:12])
    assert explicit.device == explicit.device_ == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_runs_on_cuda_when_present(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    assert clf.device_ == "cuda" and next(clf.module_.parameters()).is_cuda
    assert clf.predict_proba(TEXTS).shape == (15, 3) and clf.represent(TEXTS[:2]).shape[0] == 2


def test_pipeline_on_ids_and_clone(tiny_bert):
    corpus = [*TEXTS, "never labelled text"]
    ids = np.arange(len(TEXTS))
    model = make_pipeline(IdsToTexts(corpus), make_clf(tiny_bert))
    model.fit(ids, LABELS)
    direct = make_clf(tiny_bert).fit(TEXTS, LABELS)
    np.testing.assert_allclose(
        model.predict_proba([15, 0]), direct.predict_proba([corpus[15], corpus[0]]), rtol=1e-5
    )
    assert model.classes_.tolist() == ["neg", "pos", "spam"]
    # the same with a FunctionTransformer over an object array, and through clone()
    lookup = FunctionTransformer(np.asarray(corpus, dtype=object).__getitem__)
    other = clone(make_pipeline(lookup, make_clf(tiny_bert))).fit(ids, LABELS)
    np.testing.assert_allclose(
        other.predict_proba(ids[:3]), direct.predict_proba(TEXTS[:3]), rtol=1e-5
    )


def test_ids_to_texts():
    corpus = ["a", "b", "c"]
    step = IdsToTexts(corpus)
    assert step.fit([0]) is step
    assert step.transform(np.array([[2], [0]])).tolist() == ["c", "a"]
    assert IdsToTexts(np.array(corpus, dtype=object)).transform([1]).tolist() == ["b"]
    with pytest.raises(ValueError, match="outside the corpus"):
        step.transform([3])
    with pytest.raises(TypeError, match="integer array"):
        step.transform(["a"])
    with pytest.raises(TypeError, match="corpus"):
        IdsToTexts().transform([0])
    # no ids, and a clone shares the corpus instead of copying it (QA report)
    assert step.transform([]).tolist() == []
    with pytest.raises(TypeError, match=r"integer array of positions into corpus \(got dtype"):
        step.transform([1.5])
    twin = clone(step)
    assert twin is not step and twin.corpus is corpus
    # a pipeline's set_output reaches the other steps; the texts stay a 1-d array (QA report)
    lengths = FunctionTransformer(
        lambda texts: np.c_[[len(t) for t in texts]], feature_names_out=lambda *_: ["length"]
    )
    pipe = make_pipeline(IdsToTexts(["a", "bb", "ccc"]), lengths).set_output(transform="pandas")
    assert pipe.transform([2, 0])["length"].tolist() == [3, 1]
    assert step.set_output(transform="pandas").transform([1]).tolist() == ["b"]
    assert step.get_feature_names_out().tolist() == ["text"]


def test_pickle_round_trip(fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.predict_proba(TEXTS[:4]), fitted.predict_proba(TEXTS[:4])
    )


# --- representation ------------------------------------------------------------------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _check_representation(clf: TransformerClassifier, X) -> np.ndarray:
    """``represent`` is the input of the classification layer: it reproduces the probabilities."""
    H = clf.represent(X)
    head = clf.module_.head
    assert H.dtype == np.float32 and H.shape == (len(X), head.in_features)
    logits = H @ head.weight.detach().cpu().numpy().T
    if head.bias is not None:
        logits = logits + head.bias.detach().cpu().numpy()
    np.testing.assert_allclose(_softmax(logits), clf.predict_proba(X), atol=1e-5)
    # padding does not change an item's representation (pooling picks the right token)
    np.testing.assert_allclose(clf.represent(X[:1])[0], H[0], atol=1e-5)
    return H


def test_represent_bert_is_the_pooled_cls_state(fitted):
    X = list(TEXTS[[0, 6, 12]])  # texts of different lengths: padded in one batch
    H = _check_representation(fitted, X)
    assert fitted.module_.head_name == "classifier"
    assert isinstance(fitted, SupportsRepresentation)
    np.testing.assert_array_equal(get_representation(fitted, X), H)
    inputs = fitted.tokenizer_.fast_tokenizer_(X, padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = fitted.module_.model.bert(**inputs).pooler_output.numpy()
    np.testing.assert_allclose(H, pooled, atol=1e-5)


def test_predict_proba_and_represent_is_one_pass(fitted):
    """BADGE gets both outputs from one forward pass, equal to the separate calls."""
    X = list(TEXTS)
    batches = []
    handle = fitted.module_.model.register_forward_hook(lambda *_: batches.append(1))
    try:
        proba, H = fitted.predict_proba_and_represent(X)
        one_pass = len(batches)
        assert one_pass >= 1
        np.testing.assert_array_equal(proba, fitted.predict_proba(X))
        np.testing.assert_array_equal(H, fitted.represent(X))
        assert len(batches) == 3 * one_pass  # the separate calls take a pass each
        batches.clear()
        positions, _ = badge_sampling(make_pipeline(FunctionTransformer(), fitted), X, 3)
        assert len(batches) == one_pass and positions.size == 3
    finally:
        handle.remove()
    assert isinstance(fitted, SupportsJointRepresentation)


@pytest.fixture(scope="module")
def other_architectures(tiny_bert, tmp_path_factory) -> dict[str, Path]:
    """Tiny DistilBERT (`classifier` after `pre_classifier`) and GPT-2 (`score` on every token,
    pooled at the last non-padding token), built from configs; tokenizer: the tiny BERT's."""
    from transformers import (
        AutoTokenizer,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
    )

    vocab = len(AutoTokenizer.from_pretrained(tiny_bert))
    root = tmp_path_factory.mktemp("archs")
    torch.manual_seed(0)
    DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    ).save_pretrained(root / "distilbert")
    GPT2ForSequenceClassification(
        GPT2Config(
            vocab_size=vocab,
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=128,
            bos_token_id=2,
            eos_token_id=3,
        )
    ).save_pretrained(root / "gpt2")
    return {"distilbert": root / "distilbert", "gpt2": root / "gpt2"}


@pytest.mark.parametrize(("arch", "head"), [("distilbert", "classifier"), ("gpt2", "score")])
def test_other_architectures(tiny_bert, other_architectures, arch, head):
    clf = make_clf(other_architectures[arch], tokenizer=tiny_bert).fit(TEXTS, LABELS)
    assert clf.module_.head_name == head
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (15, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    _check_representation(clf, list(TEXTS[[12, 0, 7]]))


def test_tokenizer_without_pad_token_pads_with_eos(tiny_bert, other_architectures):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    tokenizer.pad_token = None
    tokenizer.eos_token = "[SEP]"
    clf = make_clf(other_architectures["gpt2"], tokenizer=tokenizer).fit(TEXTS, LABELS)
    assert tokenizer.pad_token is None  # the caller's tokenizer is left alone
    assert clf.tokenizer_.fast_tokenizer_.pad_token == "[SEP]"
    assert clf.module_.model.config.pad_token_id == tokenizer.convert_tokens_to_ids("[SEP]")
    _check_representation(clf, list(TEXTS[[12, 0]]))


def test_batches_are_padded_to_their_longest_text(fitted):
    collate = TextCollator(fitted.tokenizer_)
    inputs, y = collate([("good movie", 0), ("a great film", 1)])
    longest = max(
        len(fitted.tokenizer_.fast_tokenizer_(t)["input_ids"])
        for t in ["good movie", "a great film"]
    )
    assert (
        inputs["input_ids"].shape == inputs["attention_mask"].shape == (2, longest) and longest < 16
    )
    assert y.tolist() == [0, 1]
    inputs, _ = collate([("good " * 40, 0)])
    assert inputs["input_ids"].shape == (1, 16)  # truncated to max_length


# --- the training protocol ------------------------------------------------------------------------


def test_every_fit_restarts_from_the_checkpoint(tiny_bert):
    first = make_clf(tiny_bert, lr=3e-3).fit(TEXTS[::-1], np.r_[LABELS[3:], LABELS[:3]])
    module = first.module_
    first.fit(TEXTS, LABELS)
    assert first.module_ is not module
    fresh = make_clf(tiny_bert, lr=3e-3).fit(TEXTS, LABELS)
    assert _same_state(_state(first), _state(fresh))
    np.testing.assert_array_equal(first.predict_proba(TEXTS), fresh.predict_proba(TEXTS))


def test_partial_fit_continues(tiny_bert):
    clf = make_clf(tiny_bert, lr=3e-3).fit(TEXTS, LABELS)
    module, before = clf.module_, _state(clf)
    clf.partial_fit(TEXTS[:12], LABELS[:12])
    assert clf.module_ is module and not _same_state(before, _state(clf))
    assert len(clf.history) == 4  # 2 epochs of fit + 2 of partial_fit
    with pytest.raises(ValueError, match="'ham'"):
        clf.partial_fit(["hello"] * 2, ["ham", "pos"])
    # one newly labelled item goes on training (a fit needs two classes, a step does not)
    module = clf.module_
    clf.partial_fit(["claim your reward"], ["spam"])
    assert clf.module_ is module and len(clf.history) > 4
    with pytest.raises(TypeError, match=r"takes no fit parameters .*got sample_weight"):
        clf.partial_fit(TEXTS[:2], LABELS[:2], sample_weight=np.ones(2))
    warm = make_clf(tiny_bert, warm_start=True).fit(TEXTS, LABELS)
    module = warm.module_
    assert warm.fit(TEXTS, LABELS).module_ is module


@pytest.mark.parametrize(
    ("params", "epochs", "batches"),
    [
        ({"min_steps": 20, "max_epochs": 2}, 7, 3),  # 3 batches/epoch: ceil(20/3) = 7 epochs
        ({"min_steps": 5, "max_epochs": 3}, 3, 3),  # 9 steps >= 5: max_epochs decides
        ({"min_steps": None, "max_epochs": 2}, 2, 3),
        ({"min_steps": 20, "max_epochs": 2, "iterator_train__drop_last": True}, 10, 2),
        ({"min_steps": 7, "max_epochs": 1, "batch_size": -1}, 7, 1),
    ],
)
def test_min_steps_extend_max_epochs(tiny_bert, params, epochs, batches):
    params = {"batch_size": 4, "patience": None, **params}
    clf = make_clf(tiny_bert, **params).fit(TEXTS[:10], LABELS[:10])
    assert clf.max_epochs_ == epochs
    assert len(clf.history) == epochs
    assert clf.history[:, "train_batch_count"] == [batches] * epochs


def test_paper_defaults(tiny_bert):
    clf = TransformerClassifier(tiny_bert)
    assert (clf.lr, clf.batch_size, clf.max_epochs, clf.min_steps) == (4e-5, 32, 10, 100)
    assert clf.optimizer is torch.optim.AdamW and clf.train_split is None
    assert (clf.patience, clf.min_delta, clf.max_length) == (10, 1e-5, 128)
    # 100 labelled texts in batches of 32: 4 batches, so 25 epochs reach 100 steps
    assert clf._epoch_budget(100) == 25 and clf._epoch_budget(1000) == 10
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    assert optimizer.defaults["weight_decay"] == 0.01  # PyTorch's default, as in the paper


class Snapshots(Callback):
    """Copies the module's weights at the end of every epoch."""

    def initialize(self):
        self.states = {}
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states[len(net.history)] = _state(net)


def scripted(scores):
    """A train_minority_f1 scorer that returns ``scores`` in turn (one per epoch)."""
    it = iter(scores)

    def score(net, X, y):
        return next(it)

    return score


def test_early_stopping_and_best_epoch_restore(tiny_bert):
    snapshots = Snapshots()
    clf = make_clf(
        tiny_bert,
        lr=3e-3,
        max_epochs=8,
        patience=3,
        callbacks=[("snapshots", snapshots)],
        callbacks__train_minority_f1__scoring=scripted([0.2, 0.9, 0.5, 0.6, 0.4, 1.0, 1.0, 1.0]),
    ).fit(TEXTS, LABELS)
    # best at epoch 2; epochs 3, 4, 5 do not improve on it: stop after epoch 5
    assert clf.history[:, "train_minority_f1"] == [0.2, 0.9, 0.5, 0.6, 0.4]
    assert clf.max_epochs_ == 8 and len(clf.history) == 5
    assert dict(clf.callbacks_)["early_stopping"].best_epoch_ == 2
    assert _same_state(_state(clf), snapshots.states[2])
    assert not _same_state(snapshots.states[2], snapshots.states[4])
    assert dict(clf.callbacks_)["early_stopping"].best_model_weights_ is None  # memory freed


def test_warm_up_epochs_before_min_steps_neither_stop_nor_win(tiny_bert):
    """15 texts in batches of 8: 2 steps per epoch, so min_steps=6 makes epochs 1-2 warm-up."""
    snapshots = Snapshots()
    clf = make_clf(
        tiny_bert,
        lr=3e-3,
        max_epochs=6,
        min_steps=6,
        patience=2,
        callbacks=[("snapshots", snapshots)],
        callbacks__train_minority_f1__scoring=scripted([0.9, 0.8, 0.5, 0.4, 0.3, 0.2]),
    ).fit(TEXTS, LABELS)
    # epoch 1's 0.9 does not count: best is epoch 3; epochs 4, 5 miss -> stop after 5
    assert len(clf.history) == 5 and dict(clf.callbacks_)["early_stopping"].best_epoch_ == 3
    assert _same_state(_state(clf), snapshots.states[3])
    # without min_steps every epoch competes: epoch 1 wins, 2 and 3 miss -> stop after 3
    plain = make_clf(
        tiny_bert,
        max_epochs=6,
        min_steps=None,
        patience=2,
        callbacks__train_minority_f1__scoring=scripted([0.9, 0.8, 0.5, 0.4, 0.3, 0.2]),
    ).fit(TEXTS, LABELS)
    assert len(plain.history) == 3 and dict(plain.callbacks_)["early_stopping"].best_epoch_ == 1


def test_min_delta_and_no_early_stopping(tiny_bert):
    snapshots = Snapshots()
    clf = make_clf(
        tiny_bert,
        lr=3e-3,
        max_epochs=4,
        patience=None,
        callbacks=[("snapshots", snapshots)],
        callbacks__train_minority_f1__scoring=scripted([0.5, 0.5 + 5e-6, 0.3, 0.5]),
    ).fit(TEXTS, LABELS)
    assert len(clf.history) == 4  # patience=None: no early stop
    assert dict(clf.callbacks_)["early_stopping"].best_epoch_ == 1  # +5e-6 < min_delta
    assert _same_state(_state(clf), snapshots.states[1])
    last = make_clf(
        tiny_bert,
        lr=3e-3,
        max_epochs=4,
        callbacks=[("snapshots", Snapshots())],
        callbacks__early_stopping=None,
        callbacks__train_minority_f1__scoring=scripted([0.5, 0.1, 0.1, 0.1]),
    ).fit(TEXTS, LABELS)
    assert _same_state(_state(last), dict(last.callbacks_)["snapshots"].states[4])


def test_history_holds_the_training_minority_f1(tiny_bert):
    """Without caching, the epoch's score is recomputed on the training set at epoch end:
    the last one must equal the minority macro F1 of the final model's predictions."""
    clf = make_clf(
        tiny_bert, lr=3e-3, max_epochs=3, use_caching=False, callbacks__early_stopping=None
    ).fit(TEXTS, LABELS)
    y_idx = np.searchsorted(clf.classes_, LABELS)
    expected = f1_score(
        y_idx,
        proba_argmax(clf, TEXTS),
        labels=clf.minority_indices_,
        average="macro",
        zero_division=0,
    )
    assert clf.history[-1, "train_minority_f1"] == pytest.approx(expected)
    assert train_minority_f1(clf, TEXTS, y_idx) == pytest.approx(expected)
    # with caching (the default) every epoch records a score in [0, 1]
    scores = make_clf(tiny_bert).fit(TEXTS, LABELS).history[:, "train_minority_f1"]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_reproducible_with_random_state(tiny_bert):
    state = torch.random.get_rng_state()
    a = make_clf(tiny_bert, lr=3e-3).fit(TEXTS, LABELS).predict_proba(TEXTS)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    fitted = make_clf(tiny_bert, random_state=None).fit(TEXTS, LABELS)
    assert not torch.equal(torch.random.get_rng_state(), state)  # None: the global RNG
    state = torch.random.get_rng_state()
    fitted.predict_proba(TEXTS), fitted.represent(TEXTS)
    assert torch.equal(torch.random.get_rng_state(), state)  # inference draws nothing
    b = make_clf(tiny_bert, lr=3e-3).fit(TEXTS, LABELS).predict_proba(TEXTS)
    np.testing.assert_array_equal(a, b)
    c = make_clf(tiny_bert, lr=3e-3, random_state=1).fit(TEXTS, LABELS).predict_proba(TEXTS)
    assert not np.array_equal(a, c)  # new head (3 classes, checkpoint has 2) and order


def test_data_random_state_seeds_the_batch_order_alone(tiny_bert):
    """App. A.3: model initialisation and data order come from separate seeds."""

    def proba(**seeds):
        clf = make_clf(tiny_bert, lr=3e-3, batch_size=4, max_epochs=2, min_steps=None, **seeds)
        return clf.fit(TEXTS, LABELS).predict_proba(TEXTS)

    base = proba(random_state=0, data_random_state=0)
    np.testing.assert_array_equal(base, proba(random_state=0, data_random_state=0))
    assert not np.array_equal(base, proba(random_state=0, data_random_state=1))  # order only
    assert not np.array_equal(base, proba(random_state=1, data_random_state=0))  # init only


# --- errors ---------------------------------------------------------------------------------------


def test_check_texts():
    assert check_texts(np.array(["a", "b"])).tolist() == ["a", "b"]
    assert all(type(t) is str for t in check_texts(np.array(["a", "b"])))
    with pytest.raises(ValueError, match="empty"):
        check_texts([])
    with pytest.raises(TypeError, match=r"X\[1\] must be a str"):
        check_texts(["a", 3])
    with pytest.raises(TypeError, match="single str"):
        check_texts("a text")
    with pytest.raises(TypeError, match=r"X\[0\] must be a str"):
        check_texts([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="1-d sequence of texts"):
        check_texts(np.array([["a", "b"], ["c", "d"]]))
    assert check_texts(np.array([["a"], ["b"]])).tolist() == ["a", "b"]  # one column
    with pytest.raises(ValueError, match=r"X\[1\] is not valid Unicode text: a lone surrogate"):
        check_texts(["fine", "broken \ud800 text"])  # before: a tokenizer's TypeError
    assert check_texts(["naïve café ✓"]) == ["naïve café ✓"]


def test_bad_input(tiny_bert, fitted):
    clf = make_clf(tiny_bert)
    with pytest.raises(ValueError, match="empty"):
        clf.fit([], [])
    with pytest.raises(TypeError, match=r"X\[1\] must be a str, got None"):
        clf.fit(["good", None], ["a", "b"])
    with pytest.raises(ValueError, match="single class"):
        clf.fit(["good movie", "bad movie"], ["pos", "pos"])
    with pytest.raises(ValueError, match="inconsistent"):
        clf.fit(["good movie", "bad movie"], ["pos", "neg", "neg"])
    with pytest.raises(ValueError, match="y is required"):
        clf.fit(["good movie", "bad movie"], None)
    with pytest.raises(ValueError, match="max_length"):
        make_clf(tiny_bert, max_length=0).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="min_steps"):
        make_clf(tiny_bert, min_steps=-1).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        make_clf(tiny_bert, device="gpu").fit(TEXTS, LABELS)
    with pytest.raises(NotFittedError):
        clf.predict_proba(["good movie"])
    with pytest.raises(NotFittedError):
        clf.represent(["good movie"])
    with pytest.raises(TypeError, match=r"X\[0\] must be a str, got 1"):
        fitted.predict_proba([1, 2])
    failed = make_clf(tiny_bert).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="single class"):
        failed.fit(["good movie", "bad movie"], ["other", "other"])
    assert failed.classes_.tolist() == ["neg", "pos", "spam"]  # left as it was


def test_unknown_model_fails_fast_with_the_parameter(tiny_bert, tmp_path):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"checkpoint='no-such-org/no-such-model'"):
        make_clf("no-such-org/no-such-model").fit(TEXTS, LABELS)
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=r"checkpoint=.*missing"):
        make_clf(missing).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match=r"tokenizer=.*missing"):
        make_clf(tiny_bert, tokenizer=str(missing)).fit(TEXTS, LABELS)
    only_tokenizer = tmp_path / "tokenizer-only"
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(only_tokenizer)
    with pytest.raises(ValueError, match=r"checkpoint=.*tokenizer-only.*Hugging Face model"):
        make_clf(only_tokenizer).fit(TEXTS, LABELS)
    assert time.perf_counter() - start < 30


def test_import_skanchor_does_not_import_torch():
    code = (
        "import sys, skanchor\n"
        "heavy = [m for m in ('torch', 'transformers', 'skorch', 'skanchor.models')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'TransformerClassifier' in dir(skanchor)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    import skanchor
    import skanchor.models

    assert skanchor.TransformerClassifier is skanchor.models.TransformerClassifier


# --- the packaged MiniLM on real texts ------------------------------------------------------------


@pytest.mark.slow
def test_minilm_fine_tunes_on_real_short_texts(minilm_path):
    """A few AdamW steps on real short texts (BBC News headlines, sport vs the rest): the
    training loss falls and the probabilities are valid."""
    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    texts, topics = list(corpus.texts), np.asarray(corpus.labels)
    titles = np.array([t.strip().splitlines()[0] for t in texts], dtype=object)
    rng = np.random.default_rng(0)
    sport = rng.choice(np.flatnonzero(topics == "sports"), 8, replace=False)
    others = rng.choice(np.flatnonzero(topics != "sports"), 40, replace=False)
    keep = np.r_[sport, others]
    y = np.where(topics[keep] == "sports", "sport", "other")
    clf = TransformerClassifier(
        minilm_path,
        max_length=32,
        batch_size=16,
        min_steps=24,
        random_state=0,
        callbacks__early_stopping=None,
    ).fit(titles[keep], y)
    losses = clf.history[:, "train_loss"]
    assert clf.max_epochs_ == 10 and len(losses) == 10  # 3 batches/epoch: 10 epochs >= 24 steps
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])
    proba = clf.predict_proba(titles[keep])
    assert proba.shape == (48, 2) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.represent(titles[keep[:3]]).shape == (3, 384)
    assert clf.minority_labels_.tolist() == ["sport"]
