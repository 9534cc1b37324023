"""The documentation site builds, warnings as errors, and its gallery runs offline."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import textwrap
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
    for page in (
        "index.html",
        "api.html",
        "user_guide/anchoral.html",
        "user_guide/rare_class.html",
        "user_guide/label.html",
        "auto_examples/index.html",
    ):
        assert (out / page).is_file(), page
    # the user guide links its new pages
    guide = (out / "user_guide" / "index.html").read_text()
    assert 'href="rare_class.html"' in guide and 'href="label.html"' in guide
    # the labelling page shows its screenshot (copied into the site) and the team recipe
    label = (out / "user_guide" / "label.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]*label-page\.png)"', label)
    assert images, "the labelling page has no screenshot"
    assert all((out / "user_guide" / src).resolve().is_file() for src in images), images
    text = html.unescape(re.sub(r"<[^>]+>", "", label))
    for needle in ("--db postgresql://", "--host 0.0.0.0", "--resume", "skanchor export"):
        assert needle in text, needle
    # the rare-class page documents the presets and links their API entries
    rare = (out / "user_guide" / "rare_class.html").read_text()
    for name in ("skanchor.presets.get_preset", "skanchor.presets.RECOMMENDED"):
        assert f"generated/{name}.html" in rare, name
    # every gallery example ran and produced its figure
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert examples
    for example in examples:
        images = list((out / "_images").glob(f"sphx_glr_{example.stem}_*.png"))
        assert images, f"{example.name} produced no figure"
    # the API reference documents the public classes from their numpydoc docstrings
    api = (out / "generated" / "skanchor.AnchorSubpool.html").read_text()
    assert "Parameters" in api and "n_neighbours" in api
    # ... and the modules of presets, stopping criteria, strategies, models and labelling
    index = (out / "api.html").read_text()
    for name in (
        "skanchor.presets.get_preset",
        "skanchor.presets.Preset",
        "skanchor.stopping.StabilizingPredictions",
        "skanchor.strategies.minority_mix_sampling",
        "skanchor.strategies.galaxy_sampling",
        "skanchor.models.TopLayersClassifier",
        "skanchor.label.create_session",
    ):
        assert f'href="generated/{name}.html' in index, name
        assert (out / "generated" / f"{name}.html").is_file(), name
    preset = (out / "generated" / "skanchor.presets.Preset.html").read_text()
    assert "query_strategy" in preset and "Parameters" in preset


def _code_block(path: Path, name: str) -> str:
    """The Python code of the ``.. code-block:: python`` with ``:name: name`` in ``path``."""
    text = path.read_text()
    match = re.search(
        rf"\.\. code-block:: python\n   :name: {re.escape(name)}\n\n(.*?)(?=\n\S)",
        text,
        flags=re.S,
    )
    assert match, f"{path.name} has no code block named {name}"
    return textwrap.dedent(match.group(1))


@pytest.mark.parametrize("variant", ["as written", "with the probe share"])
def test_rare_class_recipe_runs_as_written(tmp_path, variant):
    """The Python recipe of the rare-class page runs as written and finds rare items; so does
    it with the page's probe-share query in place of its own."""
    pytest.importorskip("modAL", reason="the modal extra is not installed")
    page = ROOT / "docs" / "user_guide" / "rare_class.rst"
    code = _code_block(page, "rare-class-recipe")
    assert "get_preset(RECOMMENDED)" in code and "patch_modal()" in code
    if variant != "as written":
        line = re.search(r"^query = .*$", code, flags=re.M)
        assert line, "the recipe has no `query = ...` line"
        probe = _code_block(page, "rare-class-probe")
        assert "probe=" in probe
        code = code.replace(line.group(0), probe.strip())
        code = code.replace('print(f"{preset.name}:', 'print(f"{preset.name}+probe:')
        code += '\nprint("probed", query.pool_filter.last_subpool_.info["n_probed"])\n'
    env = {**os.environ, "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = re.search(r"[\w+]+: (\d+) rare items in 300 queries", proc.stdout)
    assert found, proc.stdout
    assert int(found.group(1)) > 0
    if variant != "as written":  # the last subpool held the probe's share (M = 1,000)
        assert re.search(r"^probed 500$", proc.stdout, flags=re.M), proc.stdout
