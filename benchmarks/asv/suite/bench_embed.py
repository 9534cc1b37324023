"""Embedding throughput and cache hits of :class:`skanchor.embed.SentenceEmbedder`
(the packaged all-MiniLM-L6-v2 on CPU, max_seq_length = 128). Skipped without
``skanchor.embed`` or the packaged model."""

from __future__ import annotations

import shutil
import tempfile

N_TEXTS = 64


def _texts():
    try:
        from skanchor.experiments import load_corpus

        texts = load_corpus("reuters")[0].texts.tolist()
    except (FileNotFoundError, ImportError):
        texts = [f"synthetic sentence number {i} about markets and films" for i in range(999)]
    return list(dict.fromkeys(texts))[:N_TEXTS]


class Embedding:
    timeout = 300
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self):
        try:
            from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder
        except ImportError as exc:
            raise NotImplementedError(f"skanchor.embed unavailable: {exc}") from exc
        self.texts = _texts()
        self.dir = tempfile.mkdtemp(prefix="skanchor-asv-emb-")
        self._make = lambda cache=None: SentenceEmbedder(
            OFFLINE_MODEL, device="cpu", max_seq_length=128, cache=cache, progress_bar=False
        ).fit()
        self.plain = self._make()
        self.cached = self._make(self.dir)
        self.cached.transform(self.texts)  # warm: every text stored

    def teardown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def time_embed_no_cache(self):
        """64 distinct Reuters texts, no cache (divide by 64 for the time per text)."""
        self.plain.transform(self.texts)

    def time_embed_warm_cache(self):
        """The same texts again from a warm cache (lookups only)."""
        self.cached.transform(self.texts)

    def track_texts_per_second(self):
        import time

        t0 = time.perf_counter()
        self.plain.transform(self.texts)
        return len(self.texts) / (time.perf_counter() - t0)

    track_texts_per_second.unit = "texts/s"

    def track_warm_cache_hit_rate(self):
        self.cached.transform(self.texts)
        info = self.cached.cache_info_
        return info.hits / max(1, info.n_unique)

    track_warm_cache_hit_rate.unit = "fraction"
