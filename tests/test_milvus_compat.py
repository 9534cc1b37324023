"""MilvusIndex against a Milvus from before partial updates (pymilvus 2.5, Milvus Lite 2.4).

Milvus 2.6 added ``upsert(partial_update=True)``, which filter masking uses to flip the
``masked`` field without resending vectors. On older servers MilvusIndex rewrites whole rows
instead: it skips the attempt when pymilvus itself predates 2.6, and falls back when the server
rejects the partial rows. Both paths run here against the real old engine, which
``.ci/install-milvus-compat.sh`` installs into ``.milvus-compat`` (``$SKANCHOR_MILVUS_COMPAT``);
a subprocess puts it ahead of the environment's pymilvus. Milvus Lite 2.4 has no HNSW (only
FLAT, IVF_FLAT, AUTOINDEX), so the index is FLAT: exact, hence compared id for id with
:class:`~skanchor.index.ExactIndex`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.distributed

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = ".ci/install-milvus-compat.sh"

OLD_MILVUS_SCRIPT = r"""
import logging, os, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import pymilvus, milvus_lite

assert pymilvus.__version__ == "2.5.18", pymilvus.__version__
import skanchor.index._milvus_connection as connection_module
from skanchor.index import ExactIndex, MilvusIndex
from skanchor.subpool import AnchorSubpool

rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 24)).astype(np.float32)
queries = X[rng.choice(3000, 12, replace=False)]
db = os.path.join(sys.argv[1], "old.db")
rejected = []


class Catch(logging.Handler):
    def emit(self, record):
        if "partial" in record.getMessage() or "missed an field" in record.getMessage():
            rejected.append(record.getMessage())


logging.getLogger("pymilvus").addHandler(Catch())


def same_as_exact(index, exact):
    got, sims = index.search(queries, k=20)
    want, want_sims = exact.search(queries, k=20)
    assert np.array_equal(np.sort(got, axis=1), np.sort(want, axis=1))
    assert np.allclose(sims, want_sims, atol=1e-5)


def run(masking, attempt):
    connection_module.client_has_partial_update = lambda: attempt
    rejected.clear()
    name = f"{masking}_{int(attempt)}"
    index = MilvusIndex(db, collection_name=name, index_type="FLAT", masking=masking).add(X)
    exact = ExactIndex().add(X)
    masked = rng.choice(3000, 700, replace=False)
    for idx in (index, exact):
        idx.mask(masked)
    same_as_exact(index, exact)
    assert np.allclose(index.vectors(masked[:5]), exact.vectors(masked[:5]), atol=1e-6)
    for idx in (index, exact):
        idx.unmask(masked[:300])
        idx.set_mask(np.r_[masked[300:], np.arange(5)])
    same_as_exact(index, exact)
    assert index.masked_ids().tolist() == exact.masked_ids().tolist()
    labelled = exact.masked_ids()
    y = (labelled % 5 == 0).astype(int)
    params = dict(n_anchors=4, n_neighbours=40, max_size=100, random_state=0)
    got = AnchorSubpool(index, **params).select(labelled, y)
    want = AnchorSubpool(exact, **params).select(labelled, y)
    assert np.array_equal(np.sort(got.ids), np.sort(want.ids))
    if masking == "filter":
        # the whole-row path ran: skipped up front, or after the server refused partial rows
        assert index._no_partial_update
        assert bool(rejected) == attempt, rejected
    if not attempt:  # save copies the collection through the old client into a new database
        saved = os.path.join(sys.argv[1], f"saved_{name}")
        index.save(saved)
        loaded = MilvusIndex.load(saved)
        assert loaded.masked_ids().tolist() == exact.masked_ids().tolist()
        same_as_exact(loaded, exact)
        loaded.close()
    index.close()
    print(f"{masking} attempt={attempt} OK")


for masking, attempt in (("filter", False), ("filter", True), ("delete", False)):
    run(masking, attempt)
"""


def old_milvus_or_skip() -> Path:
    root = Path(os.environ.get("SKANCHOR_MILVUS_COMPAT", ".milvus-compat"))
    root = root if root.is_absolute() else REPO_ROOT / root
    if not (root / "pymilvus" / "__init__.py").is_file():
        pytest.skip(f"pymilvus 2.5 / Milvus Lite 2.4 are not in {root}: run {INSTALL_SCRIPT}")
    return root


def test_masking_on_a_server_without_partial_updates(tmp_path):
    import skanchor

    target = old_milvus_or_skip()
    paths = [str(target), str(Path(skanchor.__file__).resolve().parents[1])]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    result = subprocess.run(
        [sys.executable, "-c", OLD_MILVUS_SCRIPT, str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    for case in ("filter attempt=False", "filter attempt=True", "delete attempt=False"):
        assert f"{case} OK" in result.stdout
