"""skanchor test suite (a package, so ``tests.conftest`` resolves here and not to a
third-party top-level ``tests`` package such as the one small-text installs)."""
