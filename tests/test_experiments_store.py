"""The results directory: append-only records, truncated lines, manifests, never overwriting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from skanchor.experiments.store import ResultsDir, ResultsDirError, RunStore, package_versions

REPO = Path(__file__).resolve().parents[1]


def test_records_survive_a_truncated_last_line(tmp_path):
    store = RunStore(tmp_path / "run")
    store.path.mkdir()
    for r in range(3):
        store.append_round({"round": r, "x": r / 3})
    good = store.rounds_path.read_bytes()
    with open(store.rounds_path, "ab") as f:
        f.write(b'{"round": 3, "x": 0.1')  # what kill -9 mid-write leaves
    records = store.load_rounds(repair=False)
    assert [r["round"] for r in records] == [0, 1, 2]
    assert store.rounds_path.read_bytes() != good  # not repaired when asked not to
    assert [r["x"] for r in store.load_rounds()] == [0.0, 1 / 3, 2 / 3]  # exact floats
    assert store.rounds_path.read_bytes() == good  # cut back to the last complete record
    store.append_round({"round": 3})
    assert len(store.load_rounds()) == 4


def test_a_damaged_record_before_the_last_is_an_error(tmp_path):
    store = RunStore(tmp_path / "run")
    store.path.mkdir()
    store.rounds_path.write_text('{"round": 0}\nnot json\n{"round": 2}\n')
    with pytest.raises(ResultsDirError, match="line 2 is damaged"):
        store.load_rounds()
    store.rounds_path.write_text('{"round": 0}\n{"round": 2}\n')
    with pytest.raises(ResultsDirError, match="expected 1"):
        store.load_rounds()


def test_manifest_is_replaced_atomically(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_manifest({"status": "running", "n": 1})
    store.update_manifest(status="complete")
    manifest = store.read_manifest()
    assert manifest["status"] == "complete" and manifest["n"] == 1 and "updated" in manifest
    assert [p.name for p in store.path.iterdir()] == ["manifest.json"]  # no temporary left
    assert oct(store.manifest_path.stat().st_mode & 0o777) == "0o644"


def test_a_results_directory_is_never_reused_silently(tmp_path):
    results = ResultsDir(tmp_path / "out")
    assert results.check_writable(resume=False, overwrite=False) == "new"
    results.path.mkdir()
    assert results.check_writable(resume=False, overwrite=False) == "new"  # empty
    results.write_experiment({"config": {}})
    with pytest.raises(ResultsDirError, match=r"already exists: pass --resume .* --overwrite"):
        results.check_writable(resume=False, overwrite=False)
    assert results.check_writable(resume=True, overwrite=False) == "resume"
    assert results.check_writable(resume=False, overwrite=True) == "overwrite"
    with pytest.raises(ResultsDirError, match="not both"):
        results.check_writable(resume=True, overwrite=True)

    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(ResultsDirError, match="never deleted"):
        ResultsDir(other).check_writable(resume=False, overwrite=True)
    with pytest.raises(ResultsDirError, match="not deleting"):
        ResultsDir(other).clear()
    assert (other / "thesis.tex").read_text() == "precious"

    results.run("a").write_manifest({"status": "complete"})
    results.clear()
    assert not any(p for p in results.path.iterdir() if p.name != ".lock")


def test_lock_refuses_a_second_writer(tmp_path):
    results = ResultsDir(tmp_path / "out")
    with results.lock():
        with pytest.raises(ResultsDirError, match="another skanchor process"):
            with ResultsDir(tmp_path / "out").lock():
                pass
    with results.lock():  # released
        pass


HOLD_LOCK = """
import sys, time
from skanchor.experiments.store import ResultsDir
with ResultsDir(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_two_processes_contend_for_the_lock_and_a_kill_releases_it(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ResultsDirError, match=f"another skanchor process is writing to {out}"):
            with ResultsDir(out).lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the OS releases the lock
        holder.wait(30)
    with ResultsDir(out).lock():
        pass


def test_the_lock_does_not_need_fcntl(tmp_path, monkeypatch):
    # Windows has no fcntl: the lock must still exclude a second writer there
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with ResultsDir(tmp_path).lock():
        with pytest.raises(ResultsDirError, match="another skanchor process"):
            with ResultsDir(tmp_path).lock():
                pass


def test_experiment_file_format_is_checked(tmp_path):
    results = ResultsDir(tmp_path)
    results.experiment_path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ResultsDirError, match="not a skanchor results file"):
        results.read_experiment()
    versions = package_versions()
    assert versions["numpy"] and "python" in versions
