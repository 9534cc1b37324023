"""The documentation site builds, warnings as errors, and its gallery runs offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("sphinx", reason="the docs extra is not installed")
pytest.importorskip("numpydoc", reason="the docs extra is not installed")
pytest.importorskip("sphinx_gallery", reason="the docs extra is not installed")


@pytest.mark.slow
def test_sphinx_build_warnings_as_errors(tmp_path):
    out = tmp_path / "html"
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    for page in ("index.html", "api.html", "user_guide/anchoral.html", "auto_examples/index.html"):
        assert (out / page).is_file(), page
    # every gallery example ran and produced its figure
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert examples
    for example in examples:
        images = list((out / "_images").glob(f"sphx_glr_{example.stem}_*.png"))
        assert images, f"{example.name} produced no figure"
    # the API reference documents the public classes from their numpydoc docstrings
    api = (out / "generated" / "skanchor.AnchorSubpool.html").read_text()
    assert "Parameters" in api and "n_neighbours" in api
