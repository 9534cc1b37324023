"""Named configurations of AnchorAL: the plain paper one and the recommended one.

A :class:`Preset` names the anchoring (:class:`~skanchor.AnchorSubpool` parameters), the
query strategy that runs on the subpool and its parameters. :data:`RECOMMENDED` is the one
that ``skanchor demo``, ``skanchor label`` and the README use; it was chosen on the tuning
half of ``benchmarks/discovery.py`` (see ``benchmarks/RESULTS.md``). ``"paper"`` is the
plain configuration of the paper (k-means++ anchors, A = 10, K = 50, M = 1,000, entropy),
the reference that every other configuration is measured against.

The presets other than ``paper`` are methods of ``skanchor run`` (``--methods discovery
anchoral noop``; ``paper`` is the method ``anchoral`` with entropy), so a preset can be
compared with the baselines on your own data.

>>> from skanchor.presets import get_preset, RECOMMENDED
>>> get_preset("paper").strategy
'entropy'
>>> get_preset(RECOMMENDED).name == RECOMMENDED
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from skanchor._params import lookup_name
from skanchor.query import AnchoredQueryStrategy
from skanchor.strategies import with_minority
from skanchor.subpool import PAPER_CONFIGURATION, AnchorSubpool

__all__ = ["LOGREG_PARAMS", "PRESETS", "RECOMMENDED", "Preset", "get_preset"]

#: The default classifier on frozen sentence embeddings: scikit-learn's
#: ``LogisticRegression(**LOGREG_PARAMS)``. Class weights inversely proportional to the class
#: frequencies make the minority class count from the first round (without them the minority
#: F1 of every method stayed near 0 on the held-out tasks); measured on the tuning tasks by
#: ``benchmarks/default_classifier.py``. The ``logreg`` classifier of ``skanchor run`` and
#: ``skanchor label`` is this one.
LOGREG_PARAMS: Mapping[str, Any] = MappingProxyType(
    {"C": 10.0, "class_weight": "balanced", "max_iter": 2000}
)


@dataclass(frozen=True)
class Preset:
    """A named AnchorAL configuration: anchoring + query strategy.

    Parameters
    ----------
    name : str
        The preset's name (a method name of ``skanchor run``, except ``paper``: that is the
        method ``anchoral`` with entropy).
    description : str
        One line for listings.
    anchoring : mapping
        :class:`~skanchor.AnchorSubpool` parameters.
    strategy : str
        A name of :data:`skanchor.strategies.STRATEGIES`, run on the subpool.
    strategy_params : mapping
        The strategy's parameters.
    """

    name: str
    description: str
    anchoring: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = "entropy"
    strategy_params: Mapping[str, Any] = field(default_factory=dict)

    def query_strategy(
        self,
        index: Any,
        *,
        minority: Sequence[Any] | None = None,
        classes: Sequence[Any] | None = None,
        random_state: Any = None,
        **anchoring: Any,
    ) -> AnchoredQueryStrategy:
        """The preset as a modAL query strategy over ``index``.

        Parameters
        ----------
        index : VectorIndex
            The fitted index of the whole pool.
        minority : label or sequence of labels, optional
            The minority class(es), for strategies that take them (default: the rarest
            labelled class).
        classes : sequence, optional
            Every class of the task, so that a class with no label yet is explored
            (:class:`~skanchor.AnchorSubpool`'s ``classes``); a ``minority`` that is not one
            of them is an error.
        random_state : int, RandomState or None
            Seeds the anchors and the strategy.
        **anchoring
            :class:`~skanchor.AnchorSubpool` parameters that replace the preset's.

        Returns
        -------
        AnchoredQueryStrategy
        """
        pool_filter = AnchorSubpool(
            index,
            **{**self.anchoring, **anchoring},
            classes=classes,
            random_state=random_state,
        )
        params = with_minority(self.strategy, self.strategy_params, minority, classes)
        return AnchoredQueryStrategy(
            pool_filter,
            strategy=self.strategy,
            strategy_params=params or None,
            random_state=random_state,
        )


#: Every preset by name.
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "paper",
            "AnchorAL as in the paper: k-means++ anchors, A=10, K=50, M=1,000, entropy",
            dict(PAPER_CONFIGURATION),
            "entropy",
        ),
        Preset(
            "discovery",
            "AnchorAL for finding a rare class: the paper's anchoring, exploration for "
            "unlabelled classes, minority-aware selection on the subpool (an even share for "
            "each minority class, uncertainty judged at the labelled class prior)",
            {},
            "minority_mix",
            {"per_class": True, "explore_prior": "labelled"},
        ),
    )
}

#: The recommended preset: what the demo, the labelling session and the README use.
RECOMMENDED = "discovery"


def get_preset(name: str) -> Preset:
    """The preset registered under ``name`` (case-insensitive, ``-`` and ``_`` alike).

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS`.

    Returns
    -------
    Preset
    """
    return PRESETS[lookup_name(PRESETS, name, "preset")]
