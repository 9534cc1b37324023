"""The asv suite under ``benchmarks/`` imports and validates (``asv check --python=same``).

Runs only when asv is installed (``pip install asv``); it times nothing and builds nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytest.importorskip("asv", reason="asv not installed (pip install asv)")


def _asv() -> list[str]:
    exe = shutil.which("asv", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "asv"]


def test_asv_check_passes():
    proc = subprocess.run(
        [*_asv(), "check", "--python=same"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "No problems found" in out, out


def test_compare_help_and_report():
    """compare.py parses its options and renders a report from a minimal result."""
    sys.path.insert(0, str(BENCH))
    try:
        import compare
    finally:
        sys.path.remove(str(BENCH))
    args = compare.parse_args(["--quick"])
    assert args.sizes == [10_000] and args.budget == 300
    text = compare.markdown(
        {
            "args": {"budget": 300, "seeds": [0]},
            "speed": [
                {"method": "smalltext-anchor", "n": 1_000_000, "skipped": "too slow"},
                {"method": "modal-entropy", "n": 10_000, "error": "ImportError: x"},
            ],
            "tasks": [{"method": "skanchor-noop", "task": "t", "error": "boom"}],
        }
    )
    assert "too slow" in text and "ImportError: x" in text and "boom" in text
