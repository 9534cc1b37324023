"""Embedding a large corpus on Ray Data, shard by shard, and feeding an index in batches.

:func:`embed_parquet` reads texts from parquet shards, embeds them with a pool of Ray actors
each holding one :class:`~skanchor.embed.SentenceEmbedder` (``map_batches`` with an actor
pool; one GPU per actor when the cluster has GPUs), and writes one output shard per input
shard (``id`` int64, ``embedding`` list<float32>). An output shard is written atomically once
all its rows are embedded, so an interrupted run resumes where it stopped: finished shards are
skipped, after checking that they were embedded with the same settings from the same input
(their parquet metadata records both). :func:`index_parquet` adds embedding shards to any
:class:`~skanchor.index.VectorIndex` in batches (skipping ids already stored with the same
vector), and :func:`embed_to_index` does both.

Ray runs locally by default (``ray.init()`` with this machine's cores) or on a cluster by
``address`` (``"auto"``, ``"ray://head:10001"``). ``ray`` is imported on first use; install
with ``pip install "skanchor[ray]"``. For pools that fit one machine the single-process
:class:`~skanchor.embed.SentenceEmbedder` / :func:`~skanchor.embed.build_index` stay the
simpler choice.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from skanchor._io import atomic_path, is_missing
from skanchor.embed import DEFAULT_MODEL
from skanchor.index.base import VectorIndex, holds_vectors

__all__ = ["embed_parquet", "embed_to_index", "index_parquet", "parquet_shards"]

_EMBEDDING = "embedding"
_ID = "id"
_PATH = "path"
#: Parquet metadata key of an output shard: the settings and input it was embedded from.
_META_KEY = b"skanchor.embedding"

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
#: A directory, one file, or a list of files.
_SHARDS = [str, os.PathLike, list, tuple]


def _import_ray() -> Any:
    # Ray Data's progress bars replace builtins.print for the rest of the process unless told
    # not to; an estimator pickled afterwards (skorch keeps a reference to print) would fail.
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError('embedding on Ray needs ray[data]: pip install "skanchor[ray]"') from None
    return ray


@validate_params({"source": _SHARDS}, prefer_skip_nested_validation=True)
def parquet_shards(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The ``*.parquet`` files of a directory (sorted by name), or the given list of files.

    Hidden files (names starting with ``.``, such as the temporary file of a shard being
    written) are not shards.

    Parameters
    ----------
    source : str, os.PathLike or sequence of them
        A directory, one file, or a list of files.

    Returns
    -------
    list of Path
        The shards.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")
            )
            if not files:
                raise ValueError(f"{str(path)!r} holds no .parquet shards")
            return files
        source = [path]
    files = [Path(p) for p in source]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"parquet shard(s) not found: {', '.join(missing[:3])}")
    if len({p.name for p in files}) != len(files):
        raise ValueError("parquet shards must have distinct file names (outputs are named so)")
    return files


class _Embed:
    """Ray actor: one SentenceEmbedder, loaded once, applied to each batch."""

    def __init__(self, model: str, batch_size: int, device: str | None, max_seq_length):
        from skanchor.embed import SentenceEmbedder

        self.embedder = SentenceEmbedder(
            model,
            batch_size=batch_size,
            device=device,
            max_seq_length=max_seq_length,
            progress_bar=False,
        ).fit()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = batch.pop("text").tolist()
        missing = [i for i, t in enumerate(texts) if is_missing(t)]
        if missing:
            row = missing[0]
            where = f"id {batch[_ID][row]}" if _ID in batch else "a row"
            raise ValueError(
                f"shard {str(batch[_PATH][row])!r}: the text of {where} is missing (null); "
                "drop or fill missing texts before embedding"
            )
        batch[_EMBEDDING] = self.embedder.transform([str(t) for t in texts])
        return batch


def _ray_context(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray; return whether this call started it (and should shut it down)."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    ray.init(address=address, **kwargs)
    return True


def _write_shard(path: Path, ids: np.ndarray, vectors: np.ndarray, record: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    table = pa.table(
        {_ID: pa.array(ids, pa.int64()), _EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, dim)}
    )
    table = table.replace_schema_metadata({_META_KEY: json.dumps(record).encode()})
    with atomic_path(path) as tmp:  # a shard exists only once complete
        pq.write_table(table, tmp)


def _check_finished(output: Path, record: dict) -> None:
    """Refuse to reuse an output shard embedded with other settings or from other input."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(output).metadata or {}).get(_META_KEY)
    if raw is None:
        warnings.warn(
            f"{str(output)!r} does not record how it was embedded (written by an older "
            "skanchor): reused without checking its model, settings or ids",
            stacklevel=3,
        )
        return
    stored = json.loads(raw)
    for key, value in record.items():
        if stored.get(key) != value:
            why = (
                "ids are numbered over the shards in order and the list of shards changed; "
                "give the shards an id column (id_column=) or embed into a new output_dir"
                if key == "first_id"
                else "embed into a new output_dir, or delete the shard to embed it again"
            )
            raise ValueError(
                f"{str(output)!r} was embedded with {key}={stored.get(key)!r}, this run has "
                f"{key}={value!r}: {why}"
            )


@validate_params(
    {
        "source": _SHARDS,
        "output_dir": [str, os.PathLike],
        "model": [str, os.PathLike],
        "text_column": [str],
        "id_column": [str, None],
        "num_workers": [_POSITIVE_INT],
        "batch_size": [_POSITIVE_INT],
        "encode_batch_size": [_POSITIVE_INT],
        "num_gpus": [None, Interval(Real, 0, None, closed="left")],
        "cpus_per_worker": [Interval(Real, 0, None, closed="neither")],
        "max_seq_length": [None, _POSITIVE_INT],
        "address": [str, None],
        "num_cpus": [None, _POSITIVE_INT],
        "progress_bar": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def embed_parquet(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    text_column: str = "text",
    id_column: str | None = "id",
    num_workers: int = 2,
    batch_size: int = 256,
    encode_batch_size: int = 32,
    num_gpus: float | None = None,
    cpus_per_worker: float = 1.0,
    max_seq_length: int | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    progress_bar: bool = False,
) -> list[Path]:
    """Embed the texts of parquet shards on Ray; one output shard per input shard.

    Parameters
    ----------
    source : directory, file or list of files
        Input parquet shards with a text column (and an id column).
    output_dir : path
        Receives ``<input name>`` for each shard: columns ``id`` (int64) and ``embedding``
        (fixed-size list of float32, unit norm). Shards already there are skipped (resume);
        one embedded with another model, ``max_seq_length``, column or input (row count,
        first id) is an error.
    model : str or os.PathLike, default=DEFAULT_MODEL
        Sentence-transformers model (hub id, local path or :data:`skanchor.embed.OFFLINE_MODEL`);
        it must be readable on every worker.
    text_column : str, default="text"
        Column of the texts.
    id_column : str or None, default="id"
        Column of integer ids; None numbers the rows ``0..N-1`` over the shards in order (from
        the parquet metadata, so ids are stable across resumed runs).
    num_workers : int, default=2
        Actors in the pool (each loads the model once).
    batch_size : int, default=256
        Rows per Ray batch handed to an actor; ``encode_batch_size`` is the model's batch.
    num_gpus : float or None, default=None
        GPUs per actor; None uses 1 when the cluster has GPUs, else 0 (CPU).
    cpus_per_worker : float, default=1.0
        CPUs Ray reserves per actor. Leave some for the parquet reads: with ``num_workers``
        actors of one CPU each on a ``num_workers``-CPU Ray, the reads never get scheduled.
    max_seq_length : int or None, default=None
        Truncation length in tokens (see :class:`~skanchor.embed.SentenceEmbedder`).
    address : str or None
        Ray cluster address (``"auto"``, ``"ray://head:10001"``); None starts (or joins the
        already initialised) local Ray with ``num_cpus`` logical CPUs (default: this machine's
        cores, at least ``num_workers * cpus_per_worker + 1``).
    num_cpus : int or None, default=None
        Logical CPUs of a local Ray started here.
    progress_bar : bool, default=False
        Ray Data's progress bars.

    Returns
    -------
    list of Path
        The output shards, in input order (finished before or by this call).
    """
    shards = parquet_shards(source)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / p.name for p in shards]

    import pyarrow.parquet as pq

    counts = [pq.ParquetFile(p).metadata.num_rows for p in shards]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    settings = {
        "model": os.fspath(model),
        "max_seq_length": max_seq_length,
        "text_column": text_column,
        "id_column": id_column,
    }
    records = [
        {
            **settings,
            "rows": int(counts[i]),
            "first_id": None if id_column is not None else int(offsets[i]),
        }
        for i in range(len(shards))
    ]
    pending = []
    for i, out in enumerate(outputs):
        if out.is_file():
            _check_finished(out, records[i])
        else:
            pending.append(i)
    if not pending:
        return outputs
    for i in pending:
        names = pq.ParquetFile(shards[i]).schema_arrow.names
        wanted = [text_column] + ([id_column] if id_column is not None else [])
        absent = [c for c in wanted if c not in names]
        if absent:
            raise ValueError(f"shard {str(shards[i])!r} has no column(s) {absent}: {names}")

    if num_cpus is None and address is None:
        num_cpus = max(os.cpu_count() or 1, int(np.ceil(num_workers * cpus_per_worker)) + 1)
    ray = _import_ray()
    started = _ray_context(ray, address, num_cpus)
    # A Dataset binds the DataContext current at its creation: set the options before, restore
    # them after the run.
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True  # rows of a shard arrive in order
    ctx.enable_progress_bars = bool(progress_bar)
    try:
        if num_gpus is None:
            num_gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        device = "cuda" if num_gpus else "cpu"
        paths = [str(shards[i].resolve()) for i in pending]
        columns = [text_column] + ([id_column] if id_column is not None else [])
        ds = ray.data.read_parquet(paths, include_paths=True).select_columns([*columns, _PATH])
        if text_column != "text":
            ds = ds.rename_columns({text_column: "text"})
        if id_column is not None and id_column != _ID:
            ds = ds.rename_columns({id_column: _ID})
        # Ray may read small shards into one block, and one block goes to one actor: stream it
        # into blocks of one batch each, so that every actor of the pool gets work.
        ds = ds.repartition(target_num_rows_per_block=batch_size)
        ds = ds.map_batches(
            _Embed,
            fn_constructor_kwargs={
                "model": os.fspath(model),
                "batch_size": encode_batch_size,
                "device": device,
                "max_seq_length": max_seq_length,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_gpus=num_gpus,
            num_cpus=cpus_per_worker,
        )
        by_name = {shards[i].name: i for i in pending}
        buffers: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {i: [] for i in pending}
        seen = dict.fromkeys(pending, 0)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            batch_paths = batch[_PATH]
            for path in np.unique(batch_paths):
                shard = by_name[Path(str(path)).name]
                rows = np.flatnonzero(batch_paths == path)
                vectors = np.asarray(np.stack(batch[_EMBEDDING][rows]), dtype=np.float32)
                if id_column is not None:
                    ids = batch[_ID][rows].astype(np.int64)
                else:
                    start = offsets[shard] + seen[shard]
                    ids = np.arange(start, start + len(rows), dtype=np.int64)
                buffers[shard].append((ids, vectors))
                seen[shard] += len(rows)
                if seen[shard] == counts[shard]:
                    parts = buffers.pop(shard)
                    _write_shard(
                        outputs[shard],
                        np.concatenate([p[0] for p in parts]),
                        np.concatenate([p[1] for p in parts]),
                        records[shard],
                    )
        unfinished = [str(shards[i]) for i in buffers if counts[i] > 0]
        if unfinished:
            raise RuntimeError(f"Ray returned too few rows for shard(s): {unfinished[:3]}")
        for i in buffers:  # empty shards
            _write_shard(
                outputs[i], np.empty(0, np.int64), np.empty((0, 1), np.float32), records[i]
            )
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
        if started:
            ray.shutdown()
    return outputs


@validate_params(
    {"shards": _SHARDS, "batch_rows": [_POSITIVE_INT]}, prefer_skip_nested_validation=True
)
def read_embeddings(
    shards: str | os.PathLike | Sequence[str | os.PathLike], batch_rows: int = 65_536
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, vectors)`` batches of at most ``batch_rows`` from embedding shards.

    Parameters
    ----------
    shards : str, os.PathLike or sequence of them
        Embedding shards written by :func:`embed_parquet` (a directory or files).
    batch_rows : int, default=65_536
        Largest batch.

    Yields
    ------
    ids : ndarray of int64
    vectors : ndarray of float32
    """
    return _read_embeddings(parquet_shards(shards), batch_rows)


def _read_embeddings(files: list[Path], batch_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import pyarrow.parquet as pq

    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            if not batch.num_rows:
                continue
            column = batch.column(_EMBEDDING)
            dim = column.type.list_size
            vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
            yield batch.column(_ID).to_numpy().astype(np.int64), vectors.astype(np.float32)


# prefer_skip_nested_validation=False: the index is the caller's object, whose own parameters
# are validated when vectors are added to it.
@validate_params(
    {
        "shards": _SHARDS,
        "index": [VectorIndex],
        "batch_rows": [_POSITIVE_INT],
        "progress_bar": [None, "boolean"],
    },
    prefer_skip_nested_validation=False,
)
def index_parquet(
    shards: str | os.PathLike | Sequence[str | os.PathLike],
    index: VectorIndex,
    *,
    batch_rows: int = 65_536,
    progress_bar: bool | None = None,
) -> VectorIndex:
    """Add the vectors of embedding shards to ``index`` in batches.

    Ids already in the index with the same vector are skipped, so a partially fed index
    resumes; an id already there with another vector (an id repeated across shards, or an
    index fed from other shards) is an error naming the id and the shard.

    Parameters
    ----------
    shards : str, os.PathLike or sequence of them
        Embedding shards written by :func:`embed_parquet`.
    index : VectorIndex
        Where the vectors go.
    batch_rows : int, default=65_536
        Vectors read and added per step.
    progress_bar : bool or None, default=None
        tqdm bar; None shows it for more than 10 batches.

    Returns
    -------
    VectorIndex
        ``index``.
    """
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    files = parquet_shards(shards)
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    show = total > 10 * batch_rows if progress_bar is None else progress_bar
    with tqdm(total=total, unit="vec", desc="Indexing", disable=not show) as bar:
        for file in files:
            for ids, vectors in _read_embeddings([file], batch_rows):
                new = ~index.contains(ids)
                if not new.all():  # resume: what is there must be these very vectors
                    _check_stored(index, ids[~new], vectors[~new], file)
                if new.any():
                    index.add(vectors[new], ids[new])
                bar.update(len(ids))
    return index


def _check_stored(index: VectorIndex, ids: np.ndarray, vectors: np.ndarray, file: Path) -> None:
    """Error unless ``index`` holds exactly ``vectors`` (up to float32 rounding) for ``ids``."""
    differs = ~holds_vectors(index, ids, vectors)
    if differs.any():
        raise ValueError(
            f"id {int(ids[differs][0])} of {str(file)!r} is already in the index with another "
            f"vector ({int(differs.sum())} such id(s) in this batch): ids must be unique across "
            "the shards, and an index resumed from these shards only"
        )


# prefer_skip_nested_validation=False: embed_params and the index are validated by the calls
# that use them (embed_parquet, the index's add).
@validate_params(
    {
        "source": _SHARDS,
        "output_dir": [str, os.PathLike],
        "index": [VectorIndex, None],
        "model": [str, os.PathLike],
        "batch_rows": [_POSITIVE_INT],
    },
    prefer_skip_nested_validation=False,
)
def embed_to_index(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    index: VectorIndex | None = None,
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    batch_rows: int = 65_536,
    **embed_params: Any,
) -> VectorIndex:
    """:func:`embed_parquet` then :func:`index_parquet`: texts in parquet shards to an index.

    Both steps resume.

    Parameters
    ----------
    source : str, os.PathLike or sequence of them
        Input parquet shards (see :func:`embed_parquet`).
    output_dir : str or os.PathLike
        Where the embedding shards go.
    index : VectorIndex or None, default=None
        Default a new :class:`~skanchor.index.HNSWIndex`; pass a
        :class:`~skanchor.index.MilvusIndex` for a pool beyond one machine.
    model : str or os.PathLike, default=DEFAULT_MODEL
        Sentence-transformers model.
    batch_rows : int, default=65_536
        Vectors added to the index per step.
    **embed_params
        Further parameters of :func:`embed_parquet`.

    Returns
    -------
    VectorIndex
        The index holding every text's vector.
    """
    outputs = embed_parquet(source, output_dir, model, **embed_params)
    if index is None:
        from skanchor.index import HNSWIndex

        index = HNSWIndex()
    return index_parquet(outputs, index, batch_rows=batch_rows)
