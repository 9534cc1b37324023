"""The load benchmark, short: a few HTTP annotators for a few seconds against a real server
(``benchmarks/label_load.py``; the 20-annotator, 60-s run is the benchmark itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.test_label_support import REPO

pytest.importorskip("sqlalchemy")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")


@pytest.mark.slow
def test_concurrent_annotators_lose_and_duplicate_nothing(tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, str(REPO / "benchmarks" / "label_load.py"), "--annotators", "6"]
    command += ["--duration", "8", "--think", "0.05:0.3", "--embedder", "tfidf"]
    command += ["--session-dir", str(tmp_path / "run"), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["labels_confirmed"] >= 20
    assert report["lost"] == 0 and report["duplicated_items"] == 0
    assert report["unconfirmed_stored"] == 0
    assert report["labels_stored"] == report["labels_confirmed"]
    assert report["wait"]["n"] == report["labels_confirmed"]
    assert report["client_errors"] == {}
