"""Create, resume and export a labelling session.

:func:`create_session` checks everything it is given before it writes anything (labels,
names, the data file, the seed labels, the target database), then embeds the texts once
(through the shared embedding cache), builds the index once (kept in the session folder),
writes the database in one transaction and fills the first queue: the seed labels' model,
or a diverse start. :func:`open_session` continues a session from its database alone.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from skanchor.label.config import SessionConfig
from skanchor.label.data import EXPORT_FORMATS, read_corpus, read_seed_labels, write_table
from skanchor.label.db import database_url
from skanchor.label.store import LabelStore

__all__ = [
    "Features",
    "LabelSession",
    "create_session",
    "export_labels",
    "load_features",
    "open_session",
    "resolve_db",
]

#: File name of the SQLite database inside a session folder.
DB_NAME = "session.db"
#: Index backends a session can keep in its folder.
INDEXES = ("hnsw", "exact")


@dataclass
class Features:
    """The vectors and the index of a session's items (ids = item ids)."""

    index: Any
    vectors: np.ndarray
    texts: list[str] | None = None


@dataclass
class LabelSession:
    """An open session: its store, its folder and (once loaded) its features."""

    store: LabelStore
    session_dir: Path
    features: Features | None = None

    @property
    def config(self) -> SessionConfig:
        return SessionConfig.from_dict(self.store.config)


def _cache_dir() -> Path:
    from skanchor.experiments.runner import default_cache_dir

    return default_cache_dir() / "embeddings"


def resolve_db(db: str | os.PathLike) -> str:
    """The database URL of ``db``.

    Parameters
    ----------
    db : path or URL
        A URL, a SQLite file, or a session folder (its ``session.db``).

    Returns
    -------
    str
        A SQLAlchemy URL.
    """
    text = str(db)
    if "://" not in text and Path(text).is_dir():
        return database_url(Path(text) / DB_NAME)
    return database_url(text)


def _describe(meta: dict) -> str:
    data = meta.get("data", {})
    labels = ", ".join(meta.get("config", {}).get("labels", []))
    return f"data {Path(str(data.get('path', '?'))).name}, labels {labels}"


def _build_index(texts: list[str], cfg: dict, progress: bool) -> Any:
    """Embed ``texts`` (through the shared embedding cache) and index them (ids = positions)."""
    from skanchor.experiments.features import make_embedder, make_index

    embedder = make_embedder(
        cfg["embedder"], cache_dir=_cache_dir(), progress=progress, params=cfg["embedder_params"]
    )
    vectors = np.asarray(embedder.fit_transform(texts), dtype=np.float32)
    return make_index(vectors, cfg["index"])


def _stamp(store: LabelStore) -> dict:
    """What a saved index must match to serve ``store``'s session."""
    cfg = store.config
    return {
        "session_id": store.session_id,
        "fingerprint": store.meta["data"]["fingerprint"],
        "embedder": cfg["embedder"],
        "embedder_params": cfg["embedder_params"],
        "index": cfg["index"],
    }


def _save_index(index: Any, store: LabelStore, folder: Path) -> None:
    from skanchor._io import atomic_write

    stamp_file = folder / "index.json"
    stamp_file.unlink(missing_ok=True)  # a half-saved index is never taken for a whole one
    index.save(folder / "index")
    atomic_write(stamp_file, lambda f: json.dump(_stamp(store), f), text=True)


def load_features(
    store: LabelStore, session_dir: str | os.PathLike, *, progress: bool = True
) -> Features:
    """The session's vectors and index.

    Parameters
    ----------
    store : LabelStore
        The session.
    session_dir : path
        Where the index is kept: the one saved there is used if it belongs to this session,
        else the texts are embedded (through the embedding cache), indexed and saved there.
    progress : bool, default=True
        Show the embedding progress bar.

    Returns
    -------
    Features
    """
    from skanchor.experiments.features import INDEXES as INDEX_CLASSES

    cfg = store.config
    folder = Path(session_dir)
    texts = None
    index = None
    try:
        if json.loads((folder / "index.json").read_text()) == _stamp(store):
            index = INDEX_CLASSES[cfg["index"]].load(folder / "index")
    except (OSError, ValueError, KeyError):
        index = None
    if index is None or index.n_items != store.n_items:
        texts = store.texts()
        index = _build_index(texts, cfg, progress)
        _save_index(index, store, folder)
    vectors = index.vectors(np.arange(store.n_items, dtype=np.int64))
    return Features(index, vectors, texts)


_PATH = [str, os.PathLike]


@validate_params(
    {
        "data": _PATH,
        "labels": [list, tuple],
        "db": [*_PATH, None],
        "session_dir": [*_PATH, None],
        "text_column": [str],
        "id_column": [str, None],
        "seed_labels": [*_PATH, None],
        "progress": ["boolean"],
        "log": [callable, None],
    },
    prefer_skip_nested_validation=True,
)
def create_session(
    data: str | os.PathLike,
    labels: list[str],
    *,
    db: str | os.PathLike | None = None,
    session_dir: str | os.PathLike | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    seed_labels: str | os.PathLike | None = None,
    progress: bool = True,
    log: Any = None,
    **config: Any,
) -> LabelSession:
    """Create a labelling session on the texts of ``data`` (see the module docstring).

    Parameters
    ----------
    data : path
        CSV, TSV, parquet or JSON(L) file with a ``text_column``.
    labels : list of str
        The label names, in button order.
    db : path or URL, optional
        Where the session is stored: a SQLite file or a ``postgresql://`` URL; default
        ``session.db`` in ``session_dir``.
    session_dir : path, optional
        The session folder (the SQLite database, the index); default ``<data stem>-label``
        in the current directory.
    text_column, id_column : str
        The text column, and an optional column of unique item ids (default: row numbers).
    seed_labels : path, optional
        A labelled file (e.g. a ``skanchor export``): rows matched to items by text or id.
    progress : bool
        Show the embedding progress bar.
    log : callable, optional
        Called with progress messages.
    **config
        :class:`~skanchor.label.config.SessionConfig` fields (minority, filter, strategy,
        classifier, retrain_every, ...).

    Returns
    -------
    LabelSession
    """
    say = log or (lambda message: None)
    cfg = SessionConfig(labels=list(labels), **config)  # checks labels and every option
    if cfg.index not in INDEXES:
        raise ValueError(f"index: a session keeps {' or '.join(INDEXES)}, got {cfg.index!r}")
    corpus = read_corpus(data, text_column=text_column, id_column=id_column)
    seed_ids, seed_values = np.empty(0, dtype=np.int64), []
    if seed_labels is not None:
        seed_ids, seed_values = read_seed_labels(
            seed_labels, corpus, cfg.labels, text_column=text_column
        )
    folder = Path(session_dir) if session_dir is not None else Path(f"{Path(data).stem}-label")
    folder = folder.expanduser().resolve()
    new_folder = not folder.exists()
    url = database_url(db) if db is not None else database_url(folder / DB_NAME)
    existing = LabelStore.inspect(url)
    if existing is not None:
        where = str(db) if db is not None else str(folder / DB_NAME)
        if existing.get("data", {}).get("fingerprint") == corpus.fingerprint:
            raise ValueError(
                f"{where} already holds a session on this data; continue it with "
                f"'skanchor label --resume {where}'"
            )
        raise ValueError(
            f"{where} holds another labelling session ({_describe(existing)}); continue it "
            "with --resume or choose another --db / --session-dir"
        )
    say(
        f"{len(corpus.texts)} texts from {Path(data).name}"
        + (f" ({corpus.n_skipped} rows without text left out)" if corpus.n_skipped else "")
    )
    # Embed and index before anything is written: an embedder that fails writes nothing.
    say(f"embedding with {cfg.embedder} and indexing ({cfg.index})")
    index = _build_index(corpus.texts, cfg.to_dict(), progress)
    rng = np.random.default_rng([cfg.seed, 0])
    n = len(corpus.texts)
    stop_ids = np.sort(rng.choice(n, size=min(cfg.stop_set_size, n), replace=False))
    store = LabelStore.create(
        url,
        config=cfg.to_dict(),
        data={
            "path": corpus.path,
            "fingerprint": corpus.fingerprint,
            "text_column": text_column,
            "id_column": id_column,
            "n_skipped": corpus.n_skipped,
            "session_dir": str(folder),
            "seed_labels": None if seed_labels is None else str(Path(seed_labels).resolve()),
        },
        texts=corpus.texts,
        source_ids=corpus.source_ids,
        stop_ids=stop_ids,
        seed=cfg.seed,
        seed_ids=seed_ids,
        seed_labels=seed_values,
    )
    session = LabelSession(store, folder)
    try:
        _save_index(index, store, folder)
        vectors = index.vectors(np.arange(n, dtype=np.int64))
        session.features = Features(index, vectors, corpus.texts)
        _first_queue(session)
    except BaseException:
        store.close()
        if new_folder and db is None:  # a failed creation leaves nothing behind
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return session


def _first_queue(session: LabelSession) -> None:
    from skanchor.label.worker import Worker

    features = session.features
    assert features is not None
    snapshot = session.store.worker_snapshot()
    if snapshot["n_free"] == 0:
        Worker(session.store, features.index, features.vectors, texts=features.texts).step()


@validate_params(
    {
        "db": _PATH,
        "data": [*_PATH, None],
        "session_dir": [*_PATH, None],
        "text_column": [str, None],
        "id_column": [str, None],
        "progress": ["boolean"],
        "load": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def open_session(
    db: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    session_dir: str | os.PathLike | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    progress: bool = True,
    load: bool = True,
) -> LabelSession:
    """Continue the session stored in ``db``.

    Parameters
    ----------
    db : path or URL
        The session folder, its SQLite file, or a ``postgresql://`` URL.
    data : path, optional
        The data file; if given, it must hold the session's texts (else an error names
        both).
    session_dir : path, optional
        Where the index is kept; default: the SQLite file's folder, or the folder recorded
        at creation (else a folder in the skanchor cache).
    text_column, id_column : str, optional
        Columns of ``data`` (default: the session's).
    progress : bool, default=True
        Show the embedding progress bar if the index must be rebuilt.
    load : bool, default=True
        Load the vectors and the index (``False``: the store only, for export or
        inspection).

    Returns
    -------
    LabelSession
    """
    url = resolve_db(db)
    store = LabelStore.open(url)
    meta = store.meta
    if data is not None:
        corpus = read_corpus(
            data,
            text_column=text_column or meta["data"]["text_column"],
            id_column=id_column if id_column is not None else meta["data"]["id_column"],
        )
        if corpus.fingerprint != meta["data"]["fingerprint"]:
            store.close()
            raise ValueError(
                f"{db} holds a session on other data ({_describe(meta)}), not on {Path(data).name}"
            )
    if session_dir is not None:
        folder = Path(session_dir).expanduser().resolve()
    elif url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///") :]).parent
    else:
        folder = Path(meta["data"]["session_dir"])
        if not folder.is_dir():
            from skanchor.experiments.runner import default_cache_dir

            folder = default_cache_dir() / "label" / store.session_id
    session = LabelSession(store, folder)
    if load:
        try:
            session.features = load_features(store, folder, progress=progress)
            _first_queue(session)
        except BaseException:
            store.close()
            raise
    return session


@validate_params(
    {
        "db": _PATH,
        "out": _PATH,
        "fmt": [StrOptions(set(EXPORT_FORMATS))],
        "overwrite": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def export_labels(
    db: str | os.PathLike, out: str | os.PathLike, fmt: str = "csv", *, overwrite: bool = False
) -> tuple[Path, int]:
    """Write every label of the session in ``db`` to a file.

    Parameters
    ----------
    db : path or URL
        The session folder, its SQLite file, or a ``postgresql://`` URL.
    out : path
        The file to write (atomically).
    fmt : {"csv", "parquet", "jsonl"}, default="csv"
        Its format.
    overwrite : bool, default=False
        Replace an existing file (else: an error).

    Returns
    -------
    path : Path
        The file written.
    n_rows : int
        The number of labels in it.

    Notes
    -----
    Columns: ``id`` (the item's id in the data file), ``text``, ``label``, ``annotator``,
    ``time`` (UTC, ISO 8601), ``note``, ``annotation`` (1st or 2nd). The file works as
    ``--seed-labels`` of a new session and as a ``skanchor run`` dataset
    (``--dataset FILE --minority CLASS``).
    """
    from datetime import datetime, timezone

    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    store = LabelStore.open(resolve_db(db))
    try:
        rows = [
            {
                "id": r["source_id"],
                "text": r["text"],
                "label": r["label"],
                "annotator": r["annotator"],
                "time": datetime.fromtimestamp(r["created_at"], tz=timezone.utc).isoformat(),
                "note": r["note"],
                "annotation": int(r["slot"]) + 1,
            }
            for r in store.label_rows()
        ]
    finally:
        store.close()
    return write_table(rows, out, fmt), len(rows)
