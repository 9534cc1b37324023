"""Separate, restorable random streams for a simulated run (AnchorAL App. A.3).

A run has one seed per source of randomness — the initial labelled set, the model's
initialisation, the data order while training, and the selection (pool filter and query
strategy, two streams) — and every round draws from a generator derived from
``(seed, stream, round)`` with :class:`numpy.random.SeedSequence`. Nothing is carried from
one round to the next, so a run resumed at round ``t`` draws exactly what an uninterrupted
run draws, and changing one source's seed leaves the others untouched.

>>> s = Seeds.from_int(3)
>>> s.label
'seed3'
>>> s.integer("strategy", 5) == Seeds.from_int(3).integer("strategy", 5)
True
>>> s.integer("strategy", 5) != s.integer("filter", 5)
True
>>> [g.label for g in seed_grid(initial=[0, 1], model=[0], data=[0, 1])]
['seed0', 'i0-m0-d1-s0', 'i1-m0-d0-s0', 'i1-m0-d1-s0']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

__all__ = ["STREAMS", "STREAM_SOURCES", "Seeds", "seed_grid"]

#: Stream name -> (the Seeds field that seeds it, a stream number).
STREAMS: dict[str, tuple[str, int]] = {
    "initial": ("initial", 0),
    "model": ("model", 1),
    "data": ("data", 2),
    "filter": ("selection", 3),
    "strategy": ("selection", 4),
}

_LABEL = re.compile(r"^i(\d+)-m(\d+)-d(\d+)-s(\d+)$")


@dataclass(frozen=True)
class Seeds:
    """The seeds of one run: initial set, model init, data order, selection."""

    initial: int = 0
    model: int = 0
    data: int = 0
    selection: int = 0

    def __post_init__(self) -> None:
        seed = [Interval(Integral, 0, None, closed="left")]
        values = asdict(self)
        validate_parameter_constraints({name: seed for name in values}, values, caller_name="Seeds")

    @classmethod
    def from_int(cls, seed: int) -> Seeds:
        """One integer for every source (streams still differ: each has its own number)."""
        return cls(seed, seed, seed, seed)

    @classmethod
    def parse(cls, value: Any) -> Seeds:
        """An int, a dict of fields, or a label (``"seed3"``, ``"i0-m1-d0-s0"``)."""
        if isinstance(value, Seeds):
            return value
        if isinstance(value, dict):
            unknown = set(value) - set(STREAM_SOURCES)
            if unknown:
                raise ValueError(f"unknown seed field {sorted(unknown)[0]!r}")
            return cls(**{k: int(v) for k, v in value.items()})
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("seed") and text[4:].isdigit():
                return cls.from_int(int(text[4:]))
            match = _LABEL.match(text)
            if match:
                return cls(*map(int, match.groups()))
            if text.isdigit():
                return cls.from_int(int(text))
            raise ValueError(f"cannot read seeds from {value!r}")
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return cls.from_int(int(value))
        raise TypeError(f"seeds must be an int, a dict or a label, got {type(value).__name__}")

    @property
    def label(self) -> str:
        """``seed{n}`` when every source has seed n, else ``i{}-m{}-d{}-s{}``."""
        values = (self.initial, self.model, self.data, self.selection)
        if len(set(values)) == 1:
            return f"seed{self.initial}"
        return "i{}-m{}-d{}-s{}".format(*values)

    def sequence(self, stream: str, round_: int = 0) -> np.random.SeedSequence:
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")
        field, number = STREAMS[stream]
        return np.random.SeedSequence(int(getattr(self, field)), spawn_key=(number, int(round_)))

    def generator(self, stream: str, round_: int = 0) -> np.random.Generator:
        """A fresh generator for ``stream`` in round ``round_``."""
        return np.random.default_rng(self.sequence(stream, round_))

    def integer(self, stream: str, round_: int = 0) -> int:
        """A 31-bit integer seed for ``stream`` in round ``round_`` (for ``random_state=``)."""
        return int(self.sequence(stream, round_).generate_state(1, np.uint32)[0] >> 1)


#: The sources of randomness that have a seed of their own (the fields of :class:`Seeds`).
STREAM_SOURCES: tuple[str, ...] = tuple(f.name for f in fields(Seeds))


def seed_grid(
    initial: Sequence[int] = (0,),
    model: Sequence[int] = (0,),
    data: Sequence[int] = (0,),
    selection: Sequence[int] = (0,),
) -> list[Seeds]:
    """Every combination of the given seeds (the paper: 2 initial x 2 model x 2 data = 8)."""
    return [Seeds(*combo) for combo in itertools.product(initial, model, data, selection)]
