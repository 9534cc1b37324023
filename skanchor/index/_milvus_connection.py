"""The connection of a :class:`~skanchor.index.MilvusIndex`: which engine a URI names (a
temporary or local Milvus Lite database, or a server), opening the pymilvus client (sharing
one in-process Lite server per database), closing it, and retrying writes that timed out.

Nothing here knows about vectors, ids or masks: that is :mod:`skanchor.index.milvus`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MilvusConnection",
    "client_has_partial_update",
    "import_pymilvus",
    "is_server_uri",
    "is_timeout",
    "uri_kind",
]

#: URI prefixes that name a Milvus server (anything else must be a Lite path ending in .db).
SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
#: Name of a Milvus Lite database inside the temporary directory of ``uri=None``.
_TEMP_LITE_NAME = "milvus.db"
#: Retries of a write that timed out (as an idempotent upsert, the timeout x3 each time).
WRITE_RETRIES = 3
#: Milvus' own status code for a request whose server-side context ran out of time
#: (``merr.TimeoutCode`` in milvus/pkg/util/merr; ``CanceledCode`` is 10000).
MILVUS_TIMEOUT_CODE = 10001

# Milvus Lite runs one in-process server per database directory (milvus_lite.server_manager);
# it is released when the last connection using that directory closes.
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def import_pymilvus() -> Any:
    """``pymilvus``, or an ImportError that says how to install it."""
    try:
        import pymilvus
    except ImportError:
        raise ImportError(
            "MilvusIndex needs pymilvus (and milvus-lite for local databases): "
            'pip install "skanchor[milvus]"'
        ) from None
    return pymilvus


def client_has_partial_update() -> bool:
    """Whether pymilvus can send ``upsert(partial_update=True)`` (added in pymilvus 2.6)."""
    version = import_pymilvus().__version__
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:  # a development build: try it, the server's answer decides
        return True
    return (major, minor) >= (2, 6)


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names a Milvus server (as opposed to a Milvus Lite path)."""
    return uri.startswith(SERVER_SCHEMES)


def uri_kind(uri: str | os.PathLike | None) -> Literal["temporary", "lite", "server"]:
    """What ``uri`` names: None a temporary Lite database, a path ending in ``.db`` a Lite
    database, ``http://`` (and the other :data:`SERVER_SCHEMES`) a server; else ValueError."""
    if uri is None:
        return "temporary"
    uri = os.fspath(uri)
    if is_server_uri(uri):
        return "server"
    if not uri.strip() or not uri.endswith(".db"):
        raise ValueError(
            f"uri={uri!r} is neither a server URI ({', '.join(SERVER_SCHEMES)}) nor a "
            "Milvus Lite path ending in .db"
        )
    return "lite"


def is_timeout(exc: BaseException) -> bool:
    """Whether a pymilvus call failed because it ran out of time, decided on status codes.

    pymilvus lets a gRPC ``DEADLINE_EXCEEDED`` through as a ``grpc.RpcError`` (it never retries
    it itself); a server whose own request context timed out answers with a
    ``MilvusException`` of code :data:`MILVUS_TIMEOUT_CODE`; pymilvus' retry loop reports a gRPC
    status code it gave up on as the ``MilvusException``'s code.
    """
    import grpc

    code = getattr(exc, "code", None)
    if callable(code):  # grpc.Call.code(); pymilvus 2.5 also stores the bound method
        try:
            code = code()
        except Exception:  # an RpcError that carries no status
            return False
    if isinstance(exc, grpc.RpcError):
        return code == grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, import_pymilvus().exceptions.MilvusException):
        return code == grpc.StatusCode.DEADLINE_EXCEEDED or code == MILVUS_TIMEOUT_CODE
    return False


def _release_lite(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # pragma: no cover - Lite was used, so it is importable
        return
    server_manager_instance.release_server(path)


def _cleanup(state: dict[str, Any]) -> None:
    """Close the client, release the Lite server, remove a temporary database (run once)."""
    client = state.pop("client", None)
    if client is not None:
        try:
            client.close()
        except Exception:  # best effort on teardown
            pass
        if state["lite_path"] is not None:
            _release_lite(state["lite_path"])
    if state["temp_dir"] is not None:
        shutil.rmtree(state["temp_dir"], ignore_errors=True)


class MilvusConnection:
    """One pymilvus client for one URI: opened on first use, closed once.

    ``uri=None`` makes a temporary directory for a Milvus Lite database, removed when the
    connection is closed or garbage-collected. A Lite path (``*.db``) is opened with
    ``milvus-lite`` (one in-process server per database, shared by the connections to it);
    anything else must be a server URI. Connection errors become a ``ConnectionError`` that
    says where and how to start a server.

    Parameters
    ----------
    uri : str, os.PathLike or None
        Lite path, server URI, or None for a temporary Lite database.
    token : str or None
        Credentials; None reads ``$MILVUS_TOKEN``.
    timeout : float
        Seconds for the connection and for each request made through :meth:`write`.
    """

    def __init__(self, uri: str | os.PathLike | None, *, token: str | None, timeout: float):
        kind = uri_kind(uri)
        temp_dir = None
        if kind == "temporary":
            temp_dir = tempfile.mkdtemp(prefix="skanchor-milvus-")
            uri = os.path.join(temp_dir, _TEMP_LITE_NAME)
        uri = os.fspath(uri)
        #: What pymilvus is given: the absolute Lite path, or the server URI.
        self.uri = uri if kind == "server" else os.path.abspath(uri)
        #: The Lite database directory, or None for a server.
        self.lite_path = None if kind == "server" else self.uri
        self.token = token
        self.timeout = float(timeout)
        self._state: dict[str, Any] = {"lite_path": self.lite_path, "temp_dir": temp_dir}
        self._finalizer = weakref.finalize(self, _cleanup, self._state)

    @property
    def temp_dir(self) -> str | None:
        """The temporary directory of a ``uri=None`` database (None otherwise)."""
        return self._state["temp_dir"]

    @property
    def is_open(self) -> bool:
        return self._state.get("client") is not None

    @property
    def client(self) -> Any:
        """The ``pymilvus.MilvusClient``, connecting on first use."""
        client = self._state.get("client")
        if client is None:
            if not self._finalizer.alive:
                raise RuntimeError(f"the Milvus connection to uri={self.uri!r} was closed")
            client = self._open()
        return client

    def _open(self) -> Any:
        pymilvus = import_pymilvus()
        token = self.token if self.token is not None else os.environ.get("MILVUS_TOKEN", "")
        lite_path = self.lite_path
        if lite_path is not None:
            Path(lite_path).parent.mkdir(parents=True, exist_ok=True)
            with _LITE_LOCK:
                _LITE_USERS[lite_path] = _LITE_USERS.get(lite_path, 0) + 1
        try:
            client = pymilvus.MilvusClient(uri=self.uri, token=token, timeout=self.timeout)
        except pymilvus.exceptions.MilvusException as exc:
            if lite_path is not None:
                _release_lite(lite_path)
            where = "Milvus Lite database" if lite_path else "Milvus server"
            hint = (
                "is milvus-lite installed (pip install milvus-lite) and the directory writable?"
                if lite_path
                else "start one (e.g. `docker compose up -d` with Milvus' standalone compose "
                "file, or `milvus-lite server --data-dir DIR --port 19530`) or pass a local "
                "Milvus Lite path ending in .db"
            )
            raise ConnectionError(
                f"cannot connect to the {where} at uri={self.uri!r} within {self.timeout:g} s: "
                f"{getattr(exc, 'message', exc)}; {hint}"
            ) from exc
        self._state["client"] = client
        return client

    def close(self) -> None:
        """Close the client, release the Lite server, remove a temporary database."""
        self._finalizer()

    def write(self, collection: str, rows: list[dict], *, upsert: bool = False) -> None:
        """Insert (or upsert) ``rows``; a write that timed out is retried.

        A write can outlast the timeout while the server flushes or compacts (Milvus Lite does
        so inline), and it may have been applied: it is retried up to :data:`WRITE_RETRIES`
        times as an upsert, which is idempotent, with the timeout tripled each time. Whether it
        timed out is read from the status code (:func:`is_timeout`); any other error is raised
        at once.
        """
        timeout = self.timeout
        for attempt in range(WRITE_RETRIES + 1):
            method = self.client.upsert if upsert else self.client.insert
            try:
                method(collection, rows, timeout=timeout)
                return
            except Exception as exc:
                if attempt == WRITE_RETRIES or not is_timeout(exc):
                    raise
                upsert, timeout = True, timeout * 3
