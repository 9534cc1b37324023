"""skanchor's asv benchmarks (see ``benchmarks/asv.conf.json`` and ``benchmarks/README.md``)."""
