"""Adapters between skanchor and other active-learning libraries.

Integrations are leaves: they may import the core, the core (index, anchors, subpool,
strategies, query) never imports them, and ``import skanchor`` loads none of them. Each
adapter is imported explicitly, so skanchor itself never needs the library it adapts.
Available adapters:

- :mod:`skanchor.integrations.modal` — modAL (``modAL-python``): makes its
  ``ActiveLearner`` / ``Committee`` loop work on current scikit-learn and with query
  strategies that return ``(indices, scores)`` or bare indices, on modAL 0.4.1 and 0.4.2.x::

      from skanchor.integrations.modal import patch_modal

      patch_modal()  # once, before the first query
"""
