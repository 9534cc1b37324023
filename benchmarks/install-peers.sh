#!/usr/bin/env bash
# Install the peer libraries that python -m benchmarks.compare measures skanchor against:
#   small-text 1.4.1, scikit-activeml 1.0.1 (and asv for the suite).
# modAL-python comes with skanchor's "modal" extra.
#
# If pip would leave numpy, scipy, scikit-learn and torch as they are, the peers go into the
# active environment (the project's .venv). Otherwise they go into benchmarks/.peers-venv
# (git-ignored), which sees the project's packages through a .pth file but gets its own copies
# of whatever the peers pin; benchmarks.compare then runs the peer measurements with
# benchmarks/.peers-venv/bin/python on the same cached embeddings and vectors.
#
#   . .venv/bin/activate && bash benchmarks/install-peers.sh [--separate]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS=("small-text==1.4.1" "scikit-activeml==1.0.1")
PY="${PYTHON:-python}"

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$PY" -m pip install --quiet --dry-run --report "$report" "${PEERS[@]}" asv
changes="$("$PY" - "$report" <<'PYEOF'
import json, sys
from importlib.metadata import version, PackageNotFoundError
guarded = {"numpy", "scipy", "scikit-learn", "torch"}
out = []
for item in json.load(open(sys.argv[1]))["install"]:
    name = item["metadata"]["name"].lower()
    if name in guarded:
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        out.append(f"{name} {have} -> {item['metadata']['version']}")
print("; ".join(out))
PYEOF
)"

if [[ -z "$changes" && "${1:-}" != "--separate" ]]; then
    echo "install-peers: no change to numpy/scipy/scikit-learn/torch; installing into $("$PY" -c 'import sys; print(sys.prefix)')"
    "$PY" -m pip install "${PEERS[@]}" asv
    exit 0
fi

echo "install-peers: ${changes:-separate venv requested}; using $HERE/.peers-venv"
"$PY" -m venv "$HERE/.peers-venv"
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
peer_site="$("$HERE/.peers-venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# the project's packages (skanchor, hnswlib, ...) as a fallback after the venv's own
echo "$site" > "$peer_site/zz-project-venv.pth"
"$HERE/.peers-venv/bin/python" -m pip install "${PEERS[@]}"
echo "install-peers: done; compare.py picks benchmarks/.peers-venv/bin/python for the peers"
