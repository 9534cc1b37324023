"""skanchor's benchmarks: one-off scripts (``python -m benchmarks.<name>``) and the asv suite."""
