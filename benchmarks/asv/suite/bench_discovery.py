"""Minority discovery on a real task, through the library's own loop: Reuters-21578 "coffee"
one-vs-rest at its natural rate (``skanchor.experiments`` task building), TF-IDF + SVD
features (the library's ``tfidf`` embedder: seconds, where MiniLM embeddings of the 18k texts
take half an hour on 2 busy cores, too long for an asv fixture), the default classifier,
entropy behind each filter, 5 minority + 95 majority items to start and 10 rounds of 25.
Skipped without the local corpora (``$SKANCHOR_DATA``)."""

from __future__ import annotations

from typing import ClassVar

from .common import BATCH, FILTERS

ROUNDS = 10


def _config(method: str = "anchoral"):
    from skanchor.experiments import ExperimentConfig

    return ExperimentConfig(
        dataset="reuters",
        minority=["coffee"],
        rate="natural",
        embedder="tfidf",
        budget=100 + ROUNDS * BATCH,
        methods=[method],
        seeds=[0],
    )


class MinorityDiscovery:
    params = (FILTERS,)
    param_names: ClassVar[list[str]] = ["filter"]
    timeout = 600

    def setup_cache(self):
        from skanchor.experiments import prepare

        try:
            return prepare(_config(), progress=False)
        except FileNotFoundError:
            return None

    setup_cache.timeout = 1200

    def setup(self, cached, name):
        if cached is None:
            raise NotImplementedError("real corpora not found (set SKANCHOR_DATA)")

    def track_minority_found(self, cached, name):
        """Minority items among the 250 picked in 10 rounds (the initial 5 not counted)."""
        from skanchor.experiments import Protocol, simulate

        task, features = cached
        config = _config(name)
        (run,) = config.runs()
        records, _ = simulate(run, task, features, Protocol.from_config(config))
        return records[-1]["n_minority_labelled"] - config.n_initial_per_minority

    track_minority_found.unit = "items"
