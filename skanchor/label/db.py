"""The database under a labelling session: URLs, engines tuned for many short write
transactions, the schema, and the retry of transient write errors.

SQLite (WAL, one writer at a time) in the session folder by default; PostgreSQL by URL
(``postgresql://``, through psycopg 3). :mod:`skanchor.label.store` builds on it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["database_url", "describe_url", "dialect_insert", "make_engine", "retrying", "schema"]


class Race(Exception):
    """Another writer changed a row between our read and our write: run the transaction again."""


def database_url(db: str | os.PathLike) -> str:
    """A SQLAlchemy URL from a path (SQLite) or a URL; ``postgresql://`` uses psycopg 3."""
    text = str(db)
    if "://" not in text:
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    scheme, _, rest = text.partition("://")
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + rest
    return text


def describe_url(url: str) -> str:
    """The database of ``url`` for messages: a SQLite file's path, or the URL without its
    password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return parsed.render_as_string(hide_password=True)


# ----------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------


@functools.cache
def schema() -> Any:
    """The session's tables: ``(metadata, meta, items, queue, labels, skips, models)``."""
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        Float,
        ForeignKey,
        Index,
        Integer,
        MetaData,
        PrimaryKeyConstraint,
        String,
        Table,
        Text,
        UniqueConstraint,
    )

    md = MetaData()
    big_id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only
    meta = Table(
        "skanchor_meta",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    items = Table(
        "skanchor_items",
        md,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("source_id", Text, nullable=False),
        Column("text", Text, nullable=False),
        Column("n_labels", Integer, nullable=False),
        Column("shuffle", BigInteger, nullable=False),
        Column("stop", Boolean, nullable=False),
        Index("ix_skanchor_items_open", "n_labels", "shuffle"),
    )
    queue = Table(
        "skanchor_queue",
        md,
        Column("item_id", BigInteger, ForeignKey("skanchor_items.id"), primary_key=True),
        Column("generation", Integer, nullable=False),
        Column("rank", Integer, nullable=False),
        Column("source", String(16), nullable=False),
        Column("partial", Integer, nullable=False, default=0),  # 1: waits for a 2nd label
        Column("leased_to", String(64)),
        Column("lease_expires", Float),
        Column("leased_at", Float),
        Index("ix_skanchor_queue_lease", "leased_to"),
    )
    labels = Table(
        "skanchor_labels",
        md,
        Column("id", big_id, primary_key=True, autoincrement=True),
        Column("item_id", BigInteger, ForeignKey("skanchor_items.id"), nullable=False),
        Column("slot", Integer, nullable=False),
        Column("label", String(64), nullable=False),
        Column("annotator", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("note", Text, nullable=False),
        Column("request_id", String(64), nullable=False),
        Column("wait_ms", Float),
        Column("generation", Integer),
        Column("source", String(16)),
        UniqueConstraint("item_id", "slot", name="uq_skanchor_labels_slot"),
        UniqueConstraint("item_id", "annotator", name="uq_skanchor_labels_annotator"),
        UniqueConstraint("request_id", name="uq_skanchor_labels_request"),
        Index("ix_skanchor_labels_annotator", "annotator", "id"),
    )
    skips = Table(
        "skanchor_skips",
        md,
        Column("item_id", BigInteger, ForeignKey("skanchor_items.id"), nullable=False),
        Column("annotator", String(64), nullable=False),
        Column("created_at", Float, nullable=False),
        PrimaryKeyConstraint("item_id", "annotator"),
    )
    models = Table(
        "skanchor_models",
        md,
        Column("generation", Integer, primary_key=True, autoincrement=False),
        Column("n_labels", Integer, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("predictions", Text, nullable=False),
        Column("cv_f1", Float),
        Column("cv_n_labels", Integer),  # labels the CV used; NULL: not cross-validated yet
        Column("stop_value", Float),
        Column("should_stop", Boolean, nullable=False),
        Column("info", Text, nullable=False),
    )
    return md, meta, items, queue, labels, skips, models


# ----------------------------------------------------------------------------------------------
# Engines
# ----------------------------------------------------------------------------------------------


def make_engine(url: str, *, tuned: bool = True, durable: bool = True) -> Any:
    """A SQLAlchemy engine for ``url``, set up for many short write transactions.

    SQLite: WAL journal (readers never block the writer), ``synchronous=FULL`` (a committed
    label survives a crash of the process and of the machine), foreign keys on, a 30 s busy
    timeout, and write transactions that take the write lock at ``BEGIN IMMEDIATE`` (no
    deadlocks between read-then-write transactions); read-only blocks use a plain ``BEGIN``.
    ``durable=False``: ``synchronous=NORMAL`` (no fsync at commit; still safe from a crash
    of the process). ``tuned=False`` gives a plain engine that changes nothing in the file
    (for inspection).
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if not tuned:
        return create_engine(url, poolclass=NullPool)
    engine = create_engine(
        url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=10
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL" if durable else "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        read = conn.get_execution_options().get("skanchor_read", False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

    return engine


def dialect_insert(engine: Any) -> Callable:
    """The ``insert`` construct of the engine's dialect (it has ``on_conflict_do_nothing``)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def retrying(func: Callable) -> Callable:
    """Retry a write transaction a few times on transient errors (lock timeouts, deadlocks,
    serialization failures, a unique-key race between two writers)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import IntegrityError, OperationalError

        for attempt in range(6):
            try:
                return func(*args, **kwargs)
            except (OperationalError, IntegrityError, Race):
                if attempt == 5:
                    raise
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    return wrapper
