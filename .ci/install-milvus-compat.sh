#!/usr/bin/env bash
# Install a Milvus stack from before partial updates (Milvus 2.6): pymilvus 2.5.18 and the
# Milvus Lite 2.4.12 engine, into $SKANCHOR_MILVUS_COMPAT (default .milvus-compat, relative to
# the repo root). tests/test_milvus_compat.py imports it in a subprocess with
# PYTHONPATH=<that folder>, shadowing the environment's pymilvus, to check MilvusIndex's
# fallback to whole-row upserts on such servers. Only the packages that pymilvus 2.5 / Milvus
# Lite 2.4 need beyond the environment's are installed (ujson; pkg_resources from
# setuptools < 81); grpcio, protobuf and pandas come from the environment. Idempotent.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${SKANCHOR_MILVUS_COMPAT:-.milvus-compat}"
python="${PYTHON:-$(command -v python || command -v python3)}"
pins=("pymilvus==2.5.18" "milvus-lite==2.4.12" "ujson" "setuptools<81")

if PYTHONPATH="$target" "$python" -W ignore -c \
    'import pymilvus, milvus_lite, sys; sys.exit(pymilvus.__version__ != "2.5.18")' \
    2>/dev/null && [ -f "$target/milvus_lite/__init__.py" ]; then
    echo "pymilvus 2.5.18 + milvus-lite 2.4.12 already in $target"
    exit 0
fi

rm -rf "$target"
mkdir -p "$target"
"$python" -m pip install --quiet --no-deps --no-compile --target "$target" "${pins[@]}"
echo "pymilvus 2.5.18 + milvus-lite 2.4.12 installed in $target"
