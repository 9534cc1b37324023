#!/usr/bin/env bash
# Install the other-release dependencies that the tests check skanchor against, each in its
# own folder beside the environment (imported by subprocess tests only):
#   .modal-compat/   the modAL-python release this environment lacks (0.4.1 or 0.4.2.1)
#   .milvus-compat/  pymilvus 2.5 + Milvus Lite 2.4 (a server without partial updates)
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/install-modal-compat.sh"
bash "$here/install-milvus-compat.sh"
