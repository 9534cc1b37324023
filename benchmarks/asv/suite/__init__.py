"""skanchor's asv suite (configuration: ``benchmarks/asv/asv.conf.json``; see
``benchmarks/README.md``). It imports only skanchor, numpy and itself, as asv requires; the
one-off scripts share its :mod:`~benchmarks.asv.suite.synthetic` fixtures."""
