"""The label store: the single source of truth of a labelling session.

Everything a session is lives in one database (:mod:`skanchor.label.db`), through SQLAlchemy
Core: SQLite (WAL mode, ``synchronous=FULL``) in the session folder by default, PostgreSQL by
URL for a team (``postgresql://user@host/db``, driven by psycopg 3). The web app, the
background worker and ``--resume`` all read it; nothing lives only in memory.

Tables (all prefixed ``skanchor_``, so a shared database keeps its own tables apart):

``meta``
    The session: format and version, id, configuration, the data's fingerprint, the query
    generation counter, the worker's status.
``items``
    One row per text to label (``id`` = index id = position in the data file's kept rows),
    with its number of labels, a random serving order and whether it is in the stop set.
``queue``
    The ready queue the worker fills: items to show next, best first, and their *lease*
    (the annotator an item is shown to, until when). An expired lease returns the item to
    the queue.
``labels``
    One row per annotation, committed in one transaction before the next item is shown.
    ``(item_id, slot)`` is unique, so an item never gets more annotations than the session
    asks for; ``(item_id, annotator)`` is unique, so nobody labels an item twice;
    ``request_id`` is unique, so a retried request never adds a label twice.
``skips``
    Items an annotator skipped (not shown to them again).
``models``
    One row per retraining: labels used, stop-set predictions, the stop signal, the
    cross-validated minority F1, timings.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skanchor.label.db import (
    Race,
    database_url,
    describe_url,
    dialect_insert,
    make_engine,
    retrying,
    schema,
)

__all__ = [
    "FORMAT",
    "Conflict",
    "Item",
    "LabelStore",
    "NotASessionError",
]

FORMAT = "skanchor.label-session"
VERSION = 1
#: Annotator name of labels that came from a seed-label file.
SEED_ANNOTATOR = "seed"
_INSERT_CHUNK = 5000


class Conflict(Exception):
    """A request that the current state refuses (HTTP 409): e.g. an item leased to someone
    else, or already labelled as often as the session asks."""


class NotASessionError(ValueError):
    """The database holds no labelling session, or one of another kind or version."""


@dataclass
class Item:
    """An item as the page shows it."""

    id: int
    text: str
    source_id: str
    source: str
    n_labels: int
    lease_expires: float | None = None
    previous_label: str | None = None
    previous_note: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------


class LabelStore:
    """One labelling session's database. Open with :meth:`create` or :meth:`open`.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`make_engine`.
    url : str
        The database URL (shown in messages without its password).
    """

    def __init__(self, engine: Any, url: str):
        self.engine = engine
        self.url = url
        (_, self._meta, self._items, self._queue, self._labels, self._skips, self._models) = (
            schema()
        )
        self._cached_meta: dict | None = None
        self._fast_engine = make_engine(url, durable=False) if self.is_sqlite else None
        # SQLite has one writer at a time and makes the others poll with growing sleeps
        # (its busy handler): threads of this process queue on a lock instead, which wakes
        # the next writer as soon as the previous one commits.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    # -- life cycle -----------------------------------------------------------------------
    @staticmethod
    def inspect(db: str | os.PathLike) -> dict | None:
        """The session stored in ``db`` (its meta values), or None if ``db`` holds none.

        Never creates or writes anything: a SQLite path that does not exist gives None.
        Raises :class:`NotASessionError` for a database that holds skanchor tables of an
        unknown format or a file that is not a database.
        """
        from sqlalchemy import inspect as sa_inspect
        from sqlalchemy import select
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import DatabaseError

        url = database_url(db)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database)).exists():
            return None
        engine = make_engine(url, tuned=False)
        try:
            try:
                tables = set(sa_inspect(engine).get_table_names())
            except DatabaseError as exc:
                raise NotASessionError(
                    f"{describe_url(url)} is not a database: {str(exc.orig).splitlines()[0]}"
                ) from None
            if "skanchor_meta" not in tables:
                return None
            meta_t = schema()[1]
            with engine.connect() as conn:
                rows = dict(conn.execute(select(meta_t.c.key, meta_t.c.value)).all())
        finally:
            engine.dispose()
        try:
            meta = {k: json.loads(v) for k, v in rows.items()}
        except ValueError:
            meta = {}
        if meta.get("format") != FORMAT:
            raise NotASessionError(
                f"{describe_url(url)} holds skanchor tables but no labelling session "
                f"(format {meta.get('format')!r})"
            )
        if meta.get("version") != VERSION:
            raise NotASessionError(
                f"{describe_url(url)} holds a labelling session of format version "
                f"{meta.get('version')}, this skanchor reads version {VERSION}"
            )
        return meta

    @classmethod
    def create(
        cls,
        db: str | os.PathLike,
        *,
        config: dict,
        data: dict,
        texts: list[str],
        source_ids: list[str],
        stop_ids: np.ndarray,
        seed: int,
        seed_ids: Any = (),
        seed_labels: Any = (),
    ) -> LabelStore:
        """Create the session's tables and rows in ``db`` (which must hold no session), in
        one transaction; ``seed_ids``/``seed_labels`` are stored as labels by ``"seed"``."""
        from sqlalchemy import insert

        url = database_url(db)
        if cls.inspect(url) is not None:
            raise ValueError(f"{describe_url(url)} already holds a labelling session")
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        md, meta_t, items_t, _, labels_t, *_ = schema()
        n = len(texts)
        seeded = {int(i): str(label) for i, label in zip(seed_ids, seed_labels, strict=True)}
        shuffle = np.random.default_rng([seed, 1]).permutation(n)
        in_stop = np.zeros(n, dtype=bool)
        in_stop[stop_ids] = True
        now = time.time()
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "session_id": uuid.uuid4().hex,
            "created_at": now,
            "config": config,
            "data": {**data, "n_items": n},
            "generation": 0,
            "worker": {"state": "not started", "updated_at": now},
            "cv_seconds": None,
        }
        with engine.begin() as conn:
            md.create_all(conn)
            conn.execute(
                insert(meta_t),
                [{"key": k, "value": json.dumps(v)} for k, v in meta.items()],
            )
            for start in range(0, n, _INSERT_CHUNK):
                stop = min(start + _INSERT_CHUNK, n)
                conn.execute(
                    insert(items_t),
                    [
                        {
                            "id": i,
                            "source_id": source_ids[i],
                            "text": texts[i],
                            "n_labels": int(i in seeded),
                            "shuffle": int(shuffle[i]),
                            "stop": bool(in_stop[i]),
                        }
                        for i in range(start, stop)
                    ],
                )
            if seeded:
                conn.execute(
                    insert(labels_t),
                    [
                        {
                            "item_id": i,
                            "slot": 0,
                            "label": label,
                            "annotator": SEED_ANNOTATOR,
                            "created_at": now,
                            "note": "",
                            "request_id": f"seed-{i}",
                            "source": "seed",
                        }
                        for i, label in seeded.items()
                    ],
                )
        return cls(engine, url)

    @classmethod
    def open(cls, db: str | os.PathLike) -> LabelStore:
        """Open the session stored in ``db``; a database without one is an error."""
        url = database_url(db)
        if cls.inspect(url) is None:
            raise NotASessionError(f"{describe_url(url)} holds no labelling session")
        return cls(make_engine(url), url)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
        if self._fast_engine is not None:
            self._fast_engine.dispose()

    @property
    def where(self) -> str:
        """The database, for messages (no password)."""
        return describe_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[Any]:
        """A write transaction. ``durable=False`` (leases, skips, the worker's bookkeeping)
        lets SQLite skip the fsync at commit: such a commit survives a crash of the process
        (WAL) but maybe not a power cut; a later durable commit makes it durable too."""
        engine = self.engine if durable or self._fast_engine is None else self._fast_engine
        lock = self._write_lock or contextlib.nullcontext()
        with lock, engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self.engine.connect().execution_options(skanchor_read=True) as conn:
            with conn.begin():
                yield conn

    # -- meta -----------------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        """The session's fixed meta values (format, id, config, data), read once."""
        if self._cached_meta is None:
            from sqlalchemy import select

            with self._read() as conn:
                rows = conn.execute(select(self._meta.c.key, self._meta.c.value)).all()
            self._cached_meta = {k: json.loads(v) for k, v in rows}
        return self._cached_meta

    @property
    def config(self) -> dict:
        return self.meta["config"]

    @property
    def session_id(self) -> str:
        return self.meta["session_id"]

    @property
    def n_items(self) -> int:
        return int(self.meta["data"]["n_items"])

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    @property
    def k(self) -> int:
        """Annotations per item."""
        return int(self.config["annotations_per_item"])

    def _get_meta(self, conn: Any, key: str) -> Any:
        from sqlalchemy import select

        value = conn.execute(select(self._meta.c.value).where(self._meta.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def _set_meta(self, conn: Any, key: str, value: Any) -> None:
        from sqlalchemy import update

        conn.execute(
            update(self._meta).where(self._meta.c.key == key).values(value=json.dumps(value))
        )

    def ping(self) -> None:
        """One round trip to the database (``SELECT 1``); raises if it cannot be reached."""
        from sqlalchemy import text

        with self._read() as conn:
            conn.execute(text("SELECT 1"))

    @retrying
    def set_worker_status(self, **status: Any) -> None:
        """Record what the worker is doing (shown on the page)."""
        with self._write(durable=False) as conn:
            self._set_meta(conn, "worker", {**status, "updated_at": time.time()})

    # -- items ----------------------------------------------------------------------------
    def texts(self) -> list[str]:
        """Every item's text, in id order."""
        from sqlalchemy import select

        with self._read() as conn:
            rows = conn.execute(select(self._items.c.text).order_by(self._items.c.id)).all()
        return [r[0] for r in rows]

    def stop_ids(self) -> np.ndarray:
        """Ids of the stop set (sorted)."""
        from sqlalchemy import select

        with self._read() as conn:
            rows = conn.execute(
                select(self._items.c.id).where(self._items.c.stop).order_by(self._items.c.id)
            ).all()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    # -- serving --------------------------------------------------------------------------
    @functools.cached_property
    def _sql(self) -> Any:
        """The statements of the hot paths (serving, labelling), built once with bind
        parameters: building SQLAlchemy constructs per request costs more than running them."""
        from types import SimpleNamespace

        from sqlalchemy import and_, bindparam, delete, exists, insert, or_, select, update

        q, it, lab, sk = self._queue, self._items, self._labels, self._skips
        who, now, iid = bindparam("b_who"), bindparam("b_now"), bindparam("b_iid")
        upsert = dialect_insert(self.engine)
        free = or_(q.c.leased_to.is_(None), q.c.lease_expires < now)

        def not_mine(column: Any) -> Any:
            return and_(
                ~exists().where(lab.c.item_id == column, lab.c.annotator == who),
                ~exists().where(sk.c.item_id == column, sk.c.annotator == who),
            )

        lease = {"leased_to": who, "lease_expires": bindparam("b_expires"), "leased_at": now}
        return SimpleNamespace(
            current=select(q.c.item_id, q.c.source)
            .where(q.c.leased_to == who, q.c.lease_expires >= now)
            .order_by(q.c.leased_at.desc())
            .limit(1),
            extend=update(q).where(q.c.item_id == iid).values(lease_expires=bindparam("b_expires")),
            # Driven by the (small) queue alone: fully labelled items leave it in the label's
            # transaction, and a stray row (a refill racing a label) is dropped when met.
            candidates=select(q.c.item_id, q.c.source)
            .where(free, not_mine(q.c.item_id))
            .order_by(q.c.partial.desc(), q.c.generation.desc(), q.c.rank, q.c.item_id)
            .limit(8),
            take=update(q).where(q.c.item_id == iid, free).values(**lease),
            drop=delete(q).where(q.c.item_id == iid),
            # From a random point of the shuffled order (wrapping round to its start), so
            # that annotators who all outrun the worker do not race for the same 8 items.
            spare=select(it.c.id)
            .where(
                it.c.n_labels == 0,
                it.c.shuffle >= bindparam("b_pivot"),
                ~exists().where(q.c.item_id == it.c.id),
                not_mine(it.c.id),
            )
            .order_by(it.c.shuffle)
            .limit(8),
            add_spare=upsert(q)
            .values(item_id=iid, generation=-1, rank=0, source="fallback", partial=0, **lease)
            .on_conflict_do_nothing()
            .returning(q.c.item_id),
            item=select(it.c.text, it.c.source_id, it.c.n_labels).where(it.c.id == iid),
            by_request=select(lab.c.id, lab.c.item_id, lab.c.annotator).where(
                lab.c.request_id == bindparam("b_rid")
            ),
            n_labels=select(it.c.n_labels).where(it.c.id == iid),
            queued=select(q.c.leased_to, q.c.lease_expires, q.c.generation, q.c.source).where(
                q.c.item_id == iid
            ),
            mine=select(lab.c.id).where(lab.c.item_id == iid, lab.c.annotator == who),
            add_label=insert(lab)
            .values(
                item_id=iid,
                slot=bindparam("b_slot"),
                label=bindparam("b_label"),
                annotator=who,
                created_at=now,
                note=bindparam("b_note"),
                request_id=bindparam("b_rid"),
                wait_ms=bindparam("b_wait"),
                generation=bindparam("b_generation"),
                source=bindparam("b_source"),
            )
            .returning(lab.c.id),
            count_label=update(it)
            .where(it.c.id == iid, it.c.n_labels == bindparam("b_n"))
            .values(n_labels=bindparam("b_n") + 1),
            await_second=update(q)
            .where(q.c.item_id == iid)
            .values(leased_to=None, lease_expires=None, leased_at=None, partial=1),
        )

    def _item(self, conn: Any, item_id: int, source: str, expires: float | None) -> Item:
        row = conn.execute(self._sql.item, {"b_iid": item_id}).one()
        return Item(int(item_id), row.text, row.source_id, source, int(row.n_labels), expires)

    # -- serving --------------------------------------------------------------------------
    @retrying
    def lease_next(self, annotator: str, now: float | None = None) -> Item | None:
        """The item to show ``annotator`` now, leased to them for ``lease_seconds``.

        Their current lease if they hold one (a reload shows the same item), else the best
        queued item nobody holds that they have not labelled or skipped, else (the worker
        is behind) a random unlabelled item. None when nothing is left for them.
        """
        sql = self._sql
        now = time.time() if now is None else now
        expires = now + float(self.config["lease_seconds"])
        params = {"b_who": annotator, "b_now": now, "b_expires": expires}
        with self._write(durable=False) as conn:
            current = conn.execute(sql.current, params).first()
            if current is not None:
                conn.execute(sql.extend, {"b_iid": current.item_id, "b_expires": expires})
                return self._item(conn, current.item_id, current.source, expires)
            for candidate in conn.execute(sql.candidates, params).all():
                if conn.execute(sql.take, {**params, "b_iid": candidate.item_id}).rowcount != 1:
                    continue
                item = self._item(conn, candidate.item_id, candidate.source, expires)
                if item.n_labels < self.k:
                    return item
                conn.execute(sql.drop, {"b_iid": candidate.item_id})
            # The worker is behind (or the queue is empty): any unlabelled item, at random;
            # an item another annotator takes at the same moment is passed over.
            pivot = secrets.randbelow(max(1, self.n_items))
            spares = conn.execute(sql.spare, {**params, "b_pivot": pivot}).all()
            if not spares and pivot:
                spares = conn.execute(sql.spare, {**params, "b_pivot": 0}).all()
            for spare in spares:
                if conn.execute(sql.add_spare, {**params, "b_iid": spare.id}).first() is None:
                    continue
                item = self._item(conn, spare.id, "fallback", expires)
                if item.n_labels == 0:  # not labelled since our read (PostgreSQL)
                    return item
                conn.execute(sql.drop, {"b_iid": spare.id})
            if spares:
                raise Race("every spare item was taken meanwhile")
            return None

    @retrying
    def add_label(
        self,
        annotator: str,
        item_id: int,
        label: str,
        *,
        request_id: str,
        note: str = "",
        wait_ms: float | None = None,
        now: float | None = None,
    ) -> tuple[int, bool]:
        """Commit one label in one transaction; returns ``(label id, duplicate)``.

        ``request_id`` makes the call idempotent: the same request again (a retry after a
        lost response or a server restart) returns the stored label with
        ``duplicate=True`` and changes nothing. Raises ``ValueError`` for an unknown label
        or item, :class:`Conflict` when the item is leased to someone else or already has
        all its labels, or this annotator labelled it already.
        """
        sql = self._sql
        now = time.time() if now is None else now
        if label not in self.labels:
            raise ValueError(f"label {label!r} is not one of {', '.join(self.labels)}")
        key = {"b_iid": item_id}
        with self._write() as conn:
            done = conn.execute(sql.by_request, {"b_rid": request_id}).first()
            if done is not None:
                if done.item_id != item_id or done.annotator != annotator:
                    raise Conflict(f"request_id {request_id!r} was used for another label")
                return int(done.id), True
            row = conn.execute(sql.n_labels, key).first()
            if row is None:
                raise ValueError(f"item {item_id} does not exist")
            n = int(row.n_labels)
            queued = conn.execute(sql.queued, key).first()
            if (
                queued is not None
                and queued.leased_to not in (None, annotator)
                and (queued.lease_expires or 0) >= now
            ):
                raise Conflict(f"item {item_id} is being labelled by another annotator")
            if conn.execute(sql.mine, {**key, "b_who": annotator}).first() is not None:
                raise Conflict(f"you have labelled item {item_id} already")
            if n >= self.k:
                raise Conflict(f"item {item_id} is labelled already")
            label_id = conn.execute(
                sql.add_label,
                {
                    **key,
                    "b_slot": n,
                    "b_label": label,
                    "b_who": annotator,
                    "b_now": now,
                    "b_note": note,
                    "b_rid": request_id,
                    "b_wait": wait_ms,
                    "b_generation": None if queued is None else queued.generation,
                    "b_source": None if queued is None else queued.source,
                },
            ).scalar_one()
            if conn.execute(sql.count_label, {**key, "b_n": n}).rowcount != 1:
                raise Race(f"item {item_id} changed")  # another writer got there first
            if n + 1 >= self.k:
                conn.execute(sql.drop, key)
            else:
                conn.execute(sql.await_second, key)
        return int(label_id), False

    @retrying
    def skip(self, annotator: str, item_id: int, now: float | None = None) -> None:
        """Never show ``item_id`` to ``annotator`` again and release their lease on it."""
        from sqlalchemy import exists, insert, select, update

        now = time.time() if now is None else now
        q, sk = self._queue, self._skips
        with self._write(durable=False) as conn:
            found = conn.execute(select(self._items.c.id).where(self._items.c.id == item_id))
            if found.first() is None:
                raise ValueError(f"item {item_id} does not exist")
            if not conn.execute(
                select(exists().where(sk.c.item_id == item_id, sk.c.annotator == annotator))
            ).scalar():
                conn.execute(
                    insert(sk).values(item_id=item_id, annotator=annotator, created_at=now)
                )
            conn.execute(
                update(q)
                .where(q.c.item_id == item_id, q.c.leased_to == annotator)
                .values(leased_to=None, lease_expires=None, leased_at=None)
            )

    @retrying
    def undo(self, annotator: str, now: float | None = None) -> Item | None:
        """Take back ``annotator``'s last label and lease its item to them again.

        Returns the item with ``previous_label``/``previous_note`` set, or None when they
        have no label left to undo. Items they held stay theirs and come back, most recent
        first, once the undone item is labelled again (undo twice, relabel twice, and the
        item shown before the first undo is next). A label that another annotator has
        built on (a later annotation of the same item) cannot be undone
        (:class:`Conflict`).
        """
        from sqlalchemy import delete, insert, select, update

        now = time.time() if now is None else now
        q, it, lab = self._queue, self._items, self._labels
        expires = now + float(self.config["lease_seconds"])
        with self._write() as conn:
            last = conn.execute(
                select(lab.c.id, lab.c.item_id, lab.c.slot, lab.c.label, lab.c.note)
                .where(lab.c.annotator == annotator)
                .order_by(lab.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                return None
            n = conn.execute(select(it.c.n_labels).where(it.c.id == last.item_id)).scalar_one()
            if last.slot != n - 1:
                raise Conflict(
                    f"item {last.item_id} has been labelled by another annotator since; your "
                    "label can no longer be undone"
                )
            conn.execute(delete(lab).where(lab.c.id == last.id))
            conn.execute(update(it).where(it.c.id == last.item_id).values(n_labels=n - 1))
            lease = {"leased_to": annotator, "lease_expires": expires, "leased_at": now}
            kept = update(q).where(q.c.item_id == last.item_id)
            if conn.execute(kept.values(partial=int(n - 1 > 0), **lease)).rowcount:
                source = conn.execute(
                    select(q.c.source).where(q.c.item_id == last.item_id)
                ).scalar_one()
            else:
                source = "undo"
                conn.execute(
                    insert(q).values(
                        item_id=last.item_id,
                        generation=-1,
                        rank=0,
                        source=source,
                        partial=int(n - 1 > 0),
                        **lease,
                    )
                )
            item = self._item(conn, last.item_id, source, expires)
        item.previous_label, item.previous_note = last.label, last.note
        return item

    # -- worker ---------------------------------------------------------------------------
    def worker_snapshot(self, now: float | None = None) -> dict:
        """What the worker needs, read in one transaction: the labelled set (first label of
        each item), the pool it may query from (items without a label that nobody holds),
        the queue's free items, the active annotators, the last model's size."""
        from sqlalchemy import distinct, func, or_, select

        now = time.time() if now is None else now
        q, it, lab, mo = self._queue, self._items, self._labels, self._models
        with self._read() as conn:
            labelled = conn.execute(
                select(lab.c.item_id, lab.c.label).where(lab.c.slot == 0).order_by(lab.c.item_id)
            ).all()
            held = conn.execute(
                select(q.c.item_id).where(q.c.leased_to.is_not(None), q.c.lease_expires >= now)
            ).all()
            open_ids = conn.execute(
                select(it.c.id).where(it.c.n_labels == 0).order_by(it.c.id)
            ).all()
            free = conn.execute(
                select(func.count()).where(or_(q.c.leased_to.is_(None), q.c.lease_expires < now))
            ).scalar_one()
            active = conn.execute(
                select(func.count(distinct(q.c.leased_to))).where(
                    q.c.leased_to.is_not(None), q.c.lease_expires >= now
                )
            ).scalar_one()
            last = conn.execute(
                select(mo.c.generation, mo.c.n_labels).order_by(mo.c.generation.desc()).limit(1)
            ).first()
            generation = self._get_meta(conn, "generation")
        held_ids = np.asarray([r[0] for r in held], dtype=np.int64)
        pool = np.asarray([r[0] for r in open_ids], dtype=np.int64)
        pool = pool[~np.isin(pool, held_ids)]
        return {
            "labelled_ids": np.asarray([r[0] for r in labelled], dtype=np.int64),
            "labels": [r[1] for r in labelled],
            "pool_ids": pool,
            "n_free": int(free),
            "n_active": int(active),
            "model_generation": None if last is None else int(last.generation),
            "model_n_labels": 0 if last is None else int(last.n_labels),
            "generation": int(generation),
        }

    @retrying
    def replace_queue(self, ids: Any, source: str, now: float | None = None) -> int:
        """Put ``ids`` (best first) in the queue as the next generation; returns it.

        Queued items that nobody holds and nobody has labelled yet are replaced (they came
        from an older model); held items, items waiting for a second annotation and items
        labelled meanwhile are kept out of the new rows.
        """
        from sqlalchemy import delete, or_, select

        now = time.time() if now is None else now
        q, it = self._queue, self._items
        ids = [int(i) for i in ids]
        with self._write(durable=False) as conn:
            generation = int(self._get_meta(conn, "generation")) + 1
            self._set_meta(conn, "generation", generation)
            unlabelled = select(it.c.id).where(it.c.n_labels == 0)
            done = select(it.c.id).where(it.c.n_labels >= self.k)
            conn.execute(
                delete(q).where(
                    or_(
                        q.c.item_id.in_(done),
                        (
                            or_(q.c.leased_to.is_(None), q.c.lease_expires < now)
                            & q.c.item_id.in_(unlabelled)
                        ),
                    )
                )
            )
            if ids:
                still_open = {
                    r[0]
                    for r in conn.execute(
                        select(it.c.id).where(it.c.id.in_(ids), it.c.n_labels == 0)
                    ).all()
                }
                queued = {
                    r[0] for r in conn.execute(select(q.c.item_id).where(q.c.item_id.in_(ids)))
                }
                rows = [
                    {
                        "item_id": i,
                        "generation": generation,
                        "rank": rank,
                        "source": source,
                        "partial": 0,
                    }
                    for rank, i in enumerate(ids)
                    if i in still_open and i not in queued
                ]
                if rows:
                    conn.execute(dialect_insert(self.engine)(q).on_conflict_do_nothing(), rows)
        return generation

    @retrying
    def add_model(
        self,
        generation: int,
        n_labels: int,
        predictions: list[int],
        *,
        stop_value: float | None,
        should_stop: bool,
        info: dict,
        now: float | None = None,
    ) -> None:
        """Record a retraining (its stop-set predictions as label indices); its
        cross-validated F1 comes later (:meth:`set_model_cv`)."""
        from sqlalchemy import insert

        with self._write(durable=False) as conn:
            conn.execute(
                insert(self._models).values(
                    generation=generation,
                    n_labels=n_labels,
                    created_at=time.time() if now is None else now,
                    predictions=json.dumps([int(p) for p in predictions]),
                    stop_value=stop_value,
                    should_stop=bool(should_stop),
                    info=json.dumps(info),
                )
            )

    @retrying
    def set_model_cv(
        self, generation: int, cv_f1: float | None, n_labels: int, seconds: float
    ) -> None:
        """Record the cross-validated minority F1 of a model (None: not computable, e.g. a
        class with a single label), computed on ``n_labels`` labels in ``seconds``."""
        from sqlalchemy import update

        mo = self._models
        with self._write(durable=False) as conn:
            conn.execute(
                update(mo)
                .where(mo.c.generation == generation)
                .values(cv_f1=cv_f1, cv_n_labels=n_labels)
            )
            self._set_meta(conn, "cv_seconds", seconds)

    def latest_model(self) -> dict | None:
        """The newest model's generation, label count and CV state, or None."""
        from sqlalchemy import select

        mo = self._models
        with self._read() as conn:
            row = conn.execute(
                select(mo.c.generation, mo.c.n_labels, mo.c.cv_f1, mo.c.cv_n_labels)
                .order_by(mo.c.generation.desc())
                .limit(1)
            ).first()
        return None if row is None else dict(row._mapping)

    def model_predictions(self) -> list[list[int]]:
        """Stop-set predictions of every recorded model, oldest first."""
        from sqlalchemy import select

        mo = self._models
        with self._read() as conn:
            rows = conn.execute(select(mo.c.predictions).order_by(mo.c.generation)).all()
        return [json.loads(r[0]) for r in rows]

    # -- reading --------------------------------------------------------------------------
    def label_rows(self) -> list[dict]:
        """Every label with its item: source id, text, label, annotator, created_at, note,
        slot, item id, request id, where the item came from (source), the page's wait."""
        from sqlalchemy import select

        lab, it = self._labels, self._items
        with self._read() as conn:
            rows = conn.execute(
                select(
                    it.c.source_id,
                    it.c.text,
                    lab.c.label,
                    lab.c.annotator,
                    lab.c.created_at,
                    lab.c.note,
                    lab.c.slot,
                    lab.c.item_id,
                    lab.c.request_id,
                    lab.c.source,
                    lab.c.wait_ms,
                )
                .join(it, it.c.id == lab.c.item_id)
                .order_by(lab.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def progress(self, annotator: str | None = None, now: float | None = None) -> dict:
        """The numbers of the progress panel, from the database."""
        from sqlalchemy import func, or_, select

        now = time.time() if now is None else now
        q, lab, sk, mo = self._queue, self._labels, self._skips, self._models
        with self._read() as conn:
            per_class = dict(
                conn.execute(
                    select(lab.c.label, func.count()).where(lab.c.slot == 0).group_by(lab.c.label)
                ).all()
            )
            per_annotator = dict(
                conn.execute(select(lab.c.annotator, func.count()).group_by(lab.c.annotator)).all()
            )
            n_skipped = conn.execute(select(func.count()).select_from(sk)).scalar_one()
            ready = conn.execute(
                select(func.count()).where(or_(q.c.leased_to.is_(None), q.c.lease_expires < now))
            ).scalar_one()
            held = conn.execute(
                select(func.count()).where(q.c.leased_to.is_not(None), q.c.lease_expires >= now)
            ).scalar_one()
            model = conn.execute(select(mo).order_by(mo.c.generation.desc()).limit(1)).first()
            cv = conn.execute(
                select(mo.c.generation, mo.c.cv_f1, mo.c.cv_n_labels)
                .where(mo.c.cv_n_labels.is_not(None))
                .order_by(mo.c.generation.desc())
                .limit(1)
            ).first()
            waits = [
                r[0]
                for r in conn.execute(
                    select(lab.c.wait_ms)
                    .where(lab.c.wait_ms.is_not(None))
                    .order_by(lab.c.id.desc())
                    .limit(500)
                ).all()
            ]
            pairs = []
            if self.k > 1:
                second = lab.alias("second")
                pairs = conn.execute(
                    select(lab.c.label, second.c.label)
                    .join(second, second.c.item_id == lab.c.item_id)
                    .where(lab.c.slot == 0, second.c.slot == 1)
                ).all()
            worker = self._get_meta(conn, "worker")
        counts = {label: int(per_class.get(label, 0)) for label in self.labels}
        n_labelled = sum(counts.values())
        minority = self.config.get("minority")
        if not minority:
            present = sorted((c, label) for label, c in counts.items() if c > 0)
            minority = [present[0][1]] if present else []
        found = sum(counts[m] for m in minority)
        result: dict[str, Any] = {
            "n_items": self.n_items,
            "n_labelled": n_labelled,
            "n_annotations": int(sum(per_annotator.values())),
            "per_class": counts,
            "per_annotator": {k: int(v) for k, v in sorted(per_annotator.items())},
            "mine": int(per_annotator.get(annotator, 0)) if annotator else 0,
            "minority": minority,
            "minority_found": found,
            "minority_rate": found / n_labelled if n_labelled else None,
            "n_skipped": int(n_skipped),
            "queue": {"ready": int(ready), "held": int(held)},
            "wait_ms": _percentiles(waits),
            "worker": worker,
            "model": None,
            "cv": None,
            "agreement": None,
        }
        if cv is not None:  # the newest cross-validated minority F1 (it lags the model)
            result["cv"] = {
                "f1": cv.cv_f1,
                "n_labels": int(cv.cv_n_labels),
                "generation": int(cv.generation),
                "folds": int(self.config["cv_folds"]),
            }
        if model is not None:
            result["model"] = {
                "generation": int(model.generation),
                "n_labels": int(model.n_labels),
                "age_s": max(0.0, now - float(model.created_at)),
                "stop_value": model.stop_value,
                "should_stop": bool(model.should_stop),
                **json.loads(model.info),
            }
        if pairs:
            from sklearn.metrics import cohen_kappa_score

            a = [p[0] for p in pairs]
            b = [p[1] for p in pairs]
            agree = float(np.mean([x == y for x, y in pairs]))
            kappa = 1.0 if a == b else float(cohen_kappa_score(a, b))
            result["agreement"] = {"n_items": len(pairs), "rate": agree, "kappa": kappa}
        return result


def _percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=np.float64)
    return {
        "n": int(arr.size),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "last": float(arr[0]),
    }
