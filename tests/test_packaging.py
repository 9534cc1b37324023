"""What a scikit-learn-contrib user expects around the code: licence, version, typing, metadata."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

import skanchor

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_source():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"], "the version is written in skanchor/_version.py"
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "skanchor._version.__version__"
    }
    assert importlib.metadata.version("skanchor") == skanchor.__version__
    written = re.findall(r'__version__ = "([^"]+)"', (ROOT / "skanchor/_version.py").read_text())
    assert written == [skanchor.__version__]


def test_license_file_and_expression():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    # PEP 639 license expressions need setuptools >= 77 in the build requirements.
    requires = pyproject["build-system"]["requires"]
    pins = [r for r in requires if r.startswith("setuptools")]
    assert pins and int(re.search(r">=(\d+)", pins[0]).group(1)) >= 77


def test_typed_classifiers_urls_changelog():
    assert (ROOT / "skanchor" / "py.typed").is_file()
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    meta = importlib.metadata.metadata("skanchor")
    classifiers = meta.get_all("Classifier")
    requires = meta["Requires-Python"]
    assert requires == ">=3.10"
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta.get_all("Project-URL")
