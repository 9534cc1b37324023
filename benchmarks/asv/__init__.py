"""The asv suite: ``asv.conf.json`` and the benchmarks in ``suite/`` (run asv from here)."""
