#!/usr/bin/env bash
# Install modAL-python 0.4.1 — the version pip picks when a project needs a modern skorch —
# next to the environment's own modAL (0.4.2.x), for tests/test_integrations_modal.py to
# run the adapter against it in a subprocess (PYTHONPATH=<dir>).
#   target: $SKANCHOR_MODAL041, default .modal-compat/modal041 (relative to the repo root).
# No dependencies are installed: modAL 0.4.1 uses the environment's numpy/scipy/
# scikit-learn/pandas. Idempotent: does nothing when 0.4.1 is already there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${SKANCHOR_MODAL041:-.modal-compat/modal041}"
python="${PYTHON:-$(command -v python || command -v python3)}"

if [ -f "$target/modAL/__init__.py" ] \
    && ls "$target" 2>/dev/null | grep -qix 'modal_python-0\.4\.1\.dist-info'; then
    echo "modAL-python 0.4.1 already in $target"
    exit 0
fi

mkdir -p "$target"
"$python" -m pip install --quiet --no-deps --upgrade --target "$target" modAL-python==0.4.1
echo "modAL-python 0.4.1 installed in $target"
