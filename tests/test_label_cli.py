"""``skanchor label`` and ``skanchor export`` as a user runs them: real servers in
subprocesses, kill -9 at random moments and ``--resume`` (nothing lost, nothing twice), the
access token on other hosts, one-line errors that write nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from skanchor.label.store import LabelStore
from tests.test_label_support import (
    BBC_LABELS,
    REPO,
    Annotator,
    LabelServer,
    bbc_frame,
    database,
    postgres_server,
)

pytest.importorskip("sqlalchemy")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

postgres = pytest.fixture(scope="session")(postgres_server)
db_url = pytest.fixture(params=["sqlite", "postgresql"])(database)

FAST = ["--embedder", "tfidf", "--retrain-every", "5", "--queue-size", "10"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    frame = bbc_frame(300, seed=1)
    path = tmp_path_factory.mktemp("data") / "bbc.csv"
    frame.to_csv(path, index=False)
    return path, frame["topic"].tolist()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "skanchor.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


# ----------------------------------------------------------------------------------------------
# kill -9 and --resume
# ----------------------------------------------------------------------------------------------


#: Seconds between a confirmed label and the next one: fast, but not so fast that two
#: annotators label the whole 300-item corpus before the third kill (on a quiet machine they
#: label ~100 items a second without it).
THINK = 0.05


class _Labeller(threading.Thread):
    """Labels as fast as it can until the server dies; remembers what was confirmed and the
    request in flight when it died."""

    def __init__(self, annotator: Annotator, truth: list[str], confirmed: dict):
        super().__init__(daemon=True)
        self.annotator, self.truth, self.confirmed = annotator, truth, confirmed
        self.pending: dict | None = None
        self.held: int | None = None

    def run(self) -> None:
        try:
            item = self.annotator.next()
        except httpx.HTTPError:
            return
        while item is not None:
            self.held = item["id"]
            body = {"item_id": item["id"], "label": self.truth[item["id"]]}
            rid = uuid.uuid4().hex
            self.pending = {**body, "request_id": rid}
            try:
                response = self.annotator.label(body["item_id"], body["label"], rid)
            except httpx.HTTPError:
                return  # the server is gone: the request may or may not have committed
            assert response.status_code == 200, response.text
            self.confirmed[rid] = body["item_id"]
            self.pending = None
            item = response.json()["next"]
            if item is None:  # nothing left for this annotator: they hold nothing
                self.held = None
            time.sleep(THINK)


@pytest.mark.slow
def test_kill_9_at_any_moment_then_resume_loses_and_duplicates_nothing(corpus, db_url, tmp_path):
    path, truth = corpus
    rng = random.Random(0)
    session_dir = tmp_path / "session"
    args = [str(path), "--labels", ",".join(BBC_LABELS), "--session-dir", str(session_dir)]
    args += FAST + (["--db", db_url] if "://" in db_url else [])
    resume = ["--resume", db_url if "://" in db_url else str(session_dir)]
    confirmed: dict[str, int] = {}
    pending: dict[str, dict] = {}
    held: dict[str, int] = {}
    for cycle in range(3):
        server = LabelServer(args if cycle == 0 else resume, tmp_path / f"server{cycle}.log")
        try:
            annotators = {name: Annotator(server.url, name) for name in ("ann", "bob")}
            for name, annotator in annotators.items():
                if name in pending:  # the page retries what it sent when the server died
                    body = pending.pop(name)
                    again = annotator.label(body["item_id"], body["label"], body["request_id"])
                    assert again.status_code == 200, again.text
                    confirmed[body["request_id"]] = body["item_id"]
                elif name in held:  # the session goes on from the same state
                    assert annotator.next()["id"] == held[name]
            workers = {
                name: _Labeller(annotator, truth, confirmed)
                for name, annotator in annotators.items()
            }
            for worker in workers.values():
                worker.start()
            time.sleep(rng.uniform(1.0, 5.0))  # labelling, retraining, querying...
        finally:
            server.kill()  # kill -9, server and worker
        for name, worker in workers.items():
            worker.join(60)
            assert not worker.is_alive()
            if worker.pending is not None:
                pending[name] = worker.pending
            elif worker.held is not None:
                held[name] = worker.held
            annotators[name].close()

    server = LabelServer(resume, tmp_path / "final.log")
    try:
        for name, body in pending.items():
            annotator = Annotator(server.url, name)
            again = annotator.label(body["item_id"], body["label"], body["request_id"])
            assert again.status_code == 200, again.text
            confirmed[body["request_id"]] = body["item_id"]
    finally:
        server.stop()
    store = LabelStore.open(db_url if "://" in db_url else session_dir / "session.db")
    rows = store.label_rows()
    store.close()
    assert len(confirmed) >= 10  # the test did label something
    stored = {r["request_id"]: r["item_id"] for r in rows}
    assert stored == confirmed  # every confirmed label is there, and nothing else
    items = [r["item_id"] for r in rows]
    assert len(items) == len(set(items))  # no item twice


# ----------------------------------------------------------------------------------------------
# Security and errors
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_other_hosts_need_the_printed_token(corpus, tmp_path):
    path, _ = corpus
    args = [str(path), "--labels", ",".join(BBC_LABELS), "--session-dir", str(tmp_path / "s")]
    server = LabelServer([*args, *FAST, "--host", "0.0.0.0"], tmp_path / "server.log")
    try:
        assert "?token=" in server.url
        bare = server.url.split("?")[0].replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(bare).status_code == 401
        assert httpx.get(bare + "api/session").status_code == 401
        token = server.url.split("token=")[1]
        with httpx.Client(base_url=bare, follow_redirects=True) as client:
            entry = client.get(f"/?token={token}")  # follows the redirect, keeps the cookie
            assert entry.status_code == 200 and "skanchor label" in entry.text
            assert client.get("/api/session").json()["labels"] == BBC_LABELS
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, c: [str(c), "--labels", "a,b", "--text-column", "body"], "no column 'body'"),
        (lambda d, c: [str(d / "empty.csv"), "--labels", "a,b"], "is empty"),
        (
            lambda d, c: [str(c), "--labels", ",".join(BBC_LABELS), "--seed-labels", d / "s.csv"],
            "label 'finance' is not one of",
        ),
        (lambda d, c: ["--resume", str(d / "nothing.db")], "holds no labelling session"),
        (lambda d, c: [str(c)], "--labels: give the labels"),
        (lambda d, c: [str(c), "--labels", "a,b", "--strategy", "nope"], "unknown strategy"),
        # serving is checked before the session is embedded and written (QA report)
        (
            lambda d, c: [str(c), "--labels", "a,b", "--host", "0.0.0.0", "--token", "short"],
            "token: use at least 16 characters",
        ),
        (
            lambda d, c: [str(c), "--labels", "a,b", "--host", "192.0.2.1", "--port", "8123"],
            "cannot listen on 192.0.2.1:8123",
        ),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(
    corpus, tmp_path, make, message, monkeypatch, capsys
):
    from skanchor.cli import main

    path, _ = corpus
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "s.csv").write_text("text,label\nanything,finance\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    assert main(["label", *map(str, make(tmp_path, path))]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skanchor label: error:"), lines
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_the_command_itself_reports_one_line(tmp_path):
    result = _cli("label", "--resume", str(tmp_path / "nothing.db"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"skanchor label: error: {tmp_path / 'nothing.db'} holds no labelling session"
    ]
    assert list(tmp_path.iterdir()) == []


def test_export_command(corpus, tmp_path, monkeypatch, capsys):
    from skanchor.cli import main
    from skanchor.label import create_session

    path, truth = corpus
    session = create_session(
        path, BBC_LABELS, session_dir=tmp_path / "s", embedder="tfidf", progress=False
    )
    store = session.store
    for _ in range(4):
        item = store.lease_next("ann")
        store.add_label("ann", item.id, truth[item.id], request_id=uuid.uuid4().hex)
    store.close()
    monkeypatch.chdir(tmp_path)
    assert main(["export", "s", "--format", "jsonl", "-o", "l.jsonl"]) == 0
    assert "4 labels written" in capsys.readouterr().err
    lines = (tmp_path / "l.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"annotator":"ann"' in lines[0]
    assert main(["export", "s", "--format", "jsonl", "-o", "l.jsonl"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "s", "--format", "csv"]) == 0
    assert (tmp_path / "labels.csv").read_text().startswith("id,text,label,annotator,time")


def test_the_python_recipe_runs_as_a_plain_script(corpus, tmp_path):
    """The user guide's "From Python" block, saved as a script without a ``__main__`` guard:
    the worker retrains (QA report: a multiprocessing worker imported the script again, whose
    create_session then failed, over and over), and Ctrl+C ends ``serve`` without a traceback
    so that the lines after it run."""
    path, truth = corpus
    script = tmp_path / "recipe.py"
    script.write_text(
        "from skanchor.label import create_session, export_labels\n"
        "from skanchor.label.app import serve\n"
        f"session = create_session({str(path)!r}, {BBC_LABELS!r}, embedder='tfidf',\n"
        f"    retrain_every=5, session_dir={str(tmp_path / 's')!r}, progress=False)\n"
        "serve(session, port=0)  # until Ctrl+C\n"
        f"print('exported', export_labels({str(tmp_path / 's')!r}, 'labels.csv')[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    try:
        url = None
        for line in process.stdout:
            if "serving" in line:
                url = line.split("serving ", 1)[1].strip()
                break
        assert url is not None
        annotator = Annotator(url)
        item = annotator.next()
        for _ in range(12):
            item = annotator.label(item["id"], truth[item["id"]]).json()["next"]
        deadline = time.monotonic() + 120
        model = None
        while model is None and time.monotonic() < deadline:
            model = annotator.client.get("/api/progress").json()["model"]
            time.sleep(0.5)
        assert model is not None and model["n_labels"] >= 5
        annotator.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "exported 12" in out and "Traceback" not in err and "starting it again" not in err
