"""``python -m skanchor``: the ``skanchor`` command (:mod:`skanchor.cli`)."""

import sys

from skanchor.cli import main

if __name__ == "__main__":
    sys.exit(main())
