#!/usr/bin/env bash
# Install the modAL-python release that this environment does NOT have, so that the tests run
# skanchor's modAL adapter against both releases in every environment:
#   - environment has 0.4.2.x (its skorch==0.9.0 pin ignored) -> install 0.4.1
#   - environment has 0.4.1 (what pip resolves beside skorch>=1.0, e.g. a fresh CI venv)
#     or no modAL at all                                       -> install 0.4.2.1 / 0.4.1
# into $SKANCHOR_MODAL_COMPAT/modal<digits> (default .modal-compat/modal041 or
# .modal-compat/modal0421, relative to the repo root). tests/test_integrations_modal.py and
# tests/test_models_modal.py import it in a subprocess with PYTHONPATH=<that folder>.
# No dependencies are installed (--no-deps): both releases run on the environment's numpy,
# scipy, scikit-learn and pandas, and neither imports skorch. Idempotent.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="${SKANCHOR_MODAL_COMPAT:-.modal-compat}"
python="${PYTHON:-$(command -v python || command -v python3)}"

installed="$("$python" -c 'import importlib.metadata as m; print(m.version("modAL-python"))' \
    2>/dev/null || true)"
case "$installed" in
    0.4.1) want="0.4.2.1" ;;
    *) want="0.4.1" ;;  # 0.4.2.x, or no modAL: the release pip picks beside a modern skorch
esac
target="$root/modal${want//./}"

if [ -f "$target/modAL/__init__.py" ] \
    && ls "$target" 2>/dev/null | grep -qix "modal_python-${want//./\\.}\.dist-info"; then
    echo "modAL-python $want already in $target (environment: ${installed:-none})"
    exit 0
fi

rm -rf "$target"
mkdir -p "$target"
"$python" -m pip install --quiet --no-deps --no-compile --target "$target" "modAL-python==$want"
echo "modAL-python $want installed in $target (environment: ${installed:-none})"
