"""modAL adapter: make modAL's ``ActiveLearner`` loop work with skanchor strategies.

modAL (``modAL-python``) is the user-facing active-learning loop of skanchor, but it is
no longer maintained, and its released versions have traps that this module fixes in one
place:

1. **scikit-learn >= 1.8.** ``ActiveLearner.fit()``, ``teach()`` and ``_add_training_data``
   call ``sklearn.utils.check_X_y(..., force_all_finite=...)`` (modAL 0.4.2.x imports it into
   ``modAL.models.learners``, 0.4.1 into ``modAL.models.base``). scikit-learn renamed that
   argument ``ensure_all_finite`` in 1.6 and removed the old name in 1.8, so ``teach()``
   raises ``TypeError`` on current scikit-learn (and warns on 1.6 and 1.7).
2. **Which modAL gets installed.** modAL 0.4.2.1 (the latest) pins ``skorch==0.9.0``; when
   a project needs a modern skorch, pip silently picks modAL 0.4.1 instead. The two versions
   disagree on what a query strategy returns:

   - 0.4.1 (``BaseLearner.query`` and ``BaseCommittee.query``) expects the selected indices.
     A tuple is taken for the deprecated ``(indices, instances)`` pair and returned as is, so
     a strategy returning ``(indices, scores)`` silently hands the *scores* back as the
     queried instances.
   - 0.4.2.x expects ``(indices, scores)``: it runs ``idx, metrics = query_strategy(...)``
     inside a bare ``try/except`` and, when unpacking fails, **calls the strategy a second
     time** (a second, costly and — for random strategies — different selection). A bare
     index array of exactly two elements unpacks "successfully" into one scalar index and a
     bogus score. The committee classes (``Committee``, ``CommitteeRegressor``) share
     ``BaseCommittee.query``, whose 0.4.2.x signature also takes ``return_metrics`` as the
     second *positional* argument.

3. **pandas pools** (a ``Series`` of texts is the natural pool of a text classifier).
   ``query`` retrieves the selected rows with ``X_pool[indices]``: on a ``Series`` that is a
   *label* lookup (wrong rows or ``KeyError`` once rows have been dropped; 0.4.1 rejects
   Series outright), while strategies return *positions*. ``teach`` stacks the training
   data with ``data_vstack``, which rejects a ``Series`` and calls ``DataFrame.append``,
   removed in pandas 2.

What this module provides:

- :func:`modal_version` — the installed ``modAL-python`` version as a tuple, or ``None``.
- :func:`patch_modal` — patches the imported modAL in place, once (idempotent, thread-safe):
  in the modAL modules that use them, ``check_X_y`` becomes a shim that forwards
  ``force_all_finite=`` as ``ensure_all_finite=`` when scikit-learn has the new name,
  ``data_vstack`` stacks pandas ``Series``/``DataFrame`` blocks with ``pd.concat`` and
  ``retrieve_rows`` takes pandas rows by position (other data go to modAL's own functions);
  ``query`` of ``BaseLearner`` / ``BaseCommittee`` becomes a version that calls the query
  strategy exactly **once** and accepts either ``(indices, scores)`` or bare indices. The
  patched ``query`` keeps the installed modAL's signature and docstring and its return
  value: ``(indices, X_pool rows)``, or ``(indices, rows, scores)`` with
  ``return_metrics=True`` where the installed modAL has that argument (0.4.2.x).
  Patched functions carry ``__skanchor_patched__ = True`` and the original as
  ``__wrapped__``. Returns whether anything was patched by this call.
- :func:`is_patched` — whether the imported modAL is patched (never imports modAL).
- :func:`format_query_result` — what a strategy should return to its caller so that it is
  right on whatever is calling it: ``(positions, scores)`` for a patched modAL, for modAL
  0.4.2.x and for direct calls; bare ``positions`` for an unpatched modAL 0.4.1.
- :func:`modal_strategy` — a decorator applying :func:`format_query_result` to a strategy
  ``f(classifier, X, n_instances=1, **kw) -> (positions, scores)``.

Usage::

    from modAL.models import ActiveLearner
    from skanchor.integrations.modal import patch_modal

    patch_modal()  # once, before building an ActiveLearner
    learner = ActiveLearner(estimator, query_strategy=strategy, X_training=X0, y_training=y0)
    idx, rows = learner.query(X_pool, n_instances=10)
    learner.teach(X_pool[idx], y_oracle[idx])

Call ``patch_modal()`` before the first query, not from inside a query strategy: a ``query``
that is already running stays unpatched. skanchor's core (``AnchoredQueryStrategy`` and the
strategies) never imports this module: it returns ``(positions, scores)``, which the patched
``query`` accepts on both releases; all modAL knowledge lives here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import re
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from skanchor.strategies._common import split_strategy_result

__all__ = [
    "format_query_result",
    "is_patched",
    "modal_strategy",
    "modal_version",
    "patch_modal",
]

_DIST_NAME = "modAL-python"
_BASE_MODULE = "modAL.models.base"
_QUERY_BASES = ("BaseLearner", "BaseCommittee")
_MARK = "__skanchor_patched__"
_INSTALL_HINT = (
    "modAL is not installed: install it with `pip install 'skanchor[modal]'` "
    "(or `pip install modAL-python`)"
)

_F = TypeVar("_F", bound=Callable[..., Any])

_lock = threading.RLock()

# The patched names as last checked, so that repeated calls (patch_modal() in every script or
# test that builds a learner) need not scan sys.modules: (len(sys.modules),
# modAL.models.base, ((owner, name, function), ...)), valid while no module is imported or
# removed and nothing is replaced.
_last_state: tuple[int, ModuleType, tuple[tuple[Any, str, Any], ...]] | None = None


def modal_version() -> tuple[int, ...] | None:
    """The installed ``modAL-python`` version, e.g. ``(0, 4, 2, 1)``; ``None`` if absent.

    Read from the package metadata (the first distribution on ``sys.path``, the one that
    ``import modAL`` finds); modAL itself is not imported.
    """
    try:
        text = importlib.metadata.version(_DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None
    match = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def _is_marked(func: Any) -> bool:
    return getattr(func, _MARK, False) is True


def _import_modal() -> ModuleType:
    try:
        importlib.import_module("modAL.models")
    except ModuleNotFoundError as exc:
        if exc.name == "modAL" or str(exc.name).startswith("modAL."):
            raise ImportError(_INSTALL_HINT) from exc
        raise
    return sys.modules[_BASE_MODULE]


def _modal_modules() -> list[ModuleType]:
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None and (name == "modAL" or name.startswith("modAL."))
    ]


def _query_owners(base: ModuleType) -> list[type]:
    """modAL's classes that define ``query``: the two bases, and any subclass overriding it."""
    bases = tuple(getattr(base, name) for name in _QUERY_BASES)
    owners = list(bases)
    for module in _modal_modules():
        for obj in list(vars(module).values()):
            if (
                isinstance(obj, type)
                and "query" in obj.__dict__
                and obj.__module__ == module.__name__
                and obj not in owners
                and issubclass(obj, bases)
            ):
                owners.append(obj)
    return owners


# --- check_X_y: force_all_finite -> ensure_all_finite ---------------------------------------


@functools.cache
def _takes_ensure_all_finite(check: Callable[..., Any]) -> bool:
    """Whether scikit-learn's ``check_X_y`` has ``ensure_all_finite`` (>= 1.6).

    From 1.6 on, ``force_all_finite`` is deprecated (1.6, 1.7) or gone (>= 1.8), so it is
    forwarded under the new name; older releases get it unchanged.
    """
    try:
        return "ensure_all_finite" in inspect.signature(check).parameters
    except (TypeError, ValueError):
        return False


def _make_check_X_y(original: Callable[..., Any]) -> Callable[..., Any]:
    rename = _takes_ensure_all_finite(original)

    @functools.wraps(original)
    def check_X_y(*args: Any, **kwargs: Any) -> Any:
        if rename and "force_all_finite" in kwargs:
            value = kwargs.pop("force_all_finite")
            kwargs.setdefault("ensure_all_finite", value)
        return original(*args, **kwargs)

    setattr(check_X_y, _MARK, True)
    return check_X_y


# --- data_vstack: pandas blocks -----------------------------------------------------------------


def _is_pandas(value: Any) -> bool:
    """A pandas Series or DataFrame (pandas is never imported here)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, (pd.Series, pd.DataFrame))


def _make_data_vstack(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def data_vstack(blocks: Any) -> Any:
        blocks = list(blocks)
        if not blocks or not _is_pandas(blocks[0]):
            return original(blocks)
        import pandas as pd

        first = blocks[0]
        if isinstance(first, pd.Series):
            parts = [
                b if _is_pandas(b) else pd.Series(np.asarray(b), name=first.name) for b in blocks
            ]
        else:
            parts = [b if _is_pandas(b) else pd.DataFrame(b, columns=first.columns) for b in blocks]
        return pd.concat(parts)

    setattr(data_vstack, _MARK, True)
    return data_vstack


def _retrieve_rows(retrieve_rows: Callable[[Any, Any], Any], X: Any, indices: Any) -> Any:
    """Rows ``indices`` (positions) of ``X``: ``.iloc`` for pandas, modAL's function otherwise."""
    if _is_pandas(X):
        return X.iloc[indices]
    return retrieve_rows(X, indices)


def _make_retrieve_rows(original: Callable[..., Any]) -> Callable[..., Any]:
    """modAL's ``retrieve_rows``, by position for pandas (replaced in modAL's module
    namespaces, where its own ``query`` and strategies look it up)."""

    @functools.wraps(original)
    def retrieve_rows(X: Any, I: Any) -> Any:  # noqa: E741 - modAL's argument name
        return _retrieve_rows(original, X, I)

    setattr(retrieve_rows, _MARK, True)
    return retrieve_rows


# --- query: call the strategy once, accept both return shapes --------------------------------


def _query_layout(sig: inspect.Signature) -> tuple[str, str | None, str | None, bool] | None:
    """``(pool, *args, **kwargs names, has return_metrics)`` of a modAL ``query`` signature.

    ``None`` if the signature is not one of modAL's known shapes
    ``(self, X_pool, *query_args, [return_metrics,] **query_kwargs)`` (in any order).
    """
    params = list(sig.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(params) < 2 or params[0].kind not in positional or params[1].kind not in positional:
        return None
    var_args = var_kwargs = None
    has_metrics = False
    for param in params[2:]:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            var_args = param.name
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = param.name
        elif param.name == "return_metrics" and param.default is not inspect.Parameter.empty:
            has_metrics = True
        else:
            return None
    return params[1].name, var_args, var_kwargs, has_metrics


def _make_query(
    original: Callable[..., Any], retrieve_rows: Callable[[Any, Any], Any]
) -> Callable[..., Any] | None:
    sig = inspect.signature(original)
    layout = _query_layout(sig)
    if layout is None:
        return None
    pool_name, args_name, kwargs_name, has_metrics = layout

    @functools.wraps(original)
    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        X_pool = arguments[pool_name]
        query_args = arguments[args_name] if args_name else ()
        query_kwargs = arguments[kwargs_name] if kwargs_name else {}
        result = self.query_strategy(self, X_pool, *query_args, **query_kwargs)
        indices, metrics = split_strategy_result(result)
        rows = _retrieve_rows(retrieve_rows, X_pool, indices)
        if has_metrics and arguments["return_metrics"]:
            if metrics is None:
                warnings.warn(
                    "The selected query strategy doesn't support return_metrics",
                    stacklevel=2,
                )
            return indices, rows, metrics
        return indices, rows

    setattr(query, _MARK, True)
    return query


# Module-level functions that modAL imports by name into its modules, and their shims.
_FUNCTION_SHIMS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "check_X_y": _make_check_X_y,
    "data_vstack": _make_data_vstack,
    "retrieve_rows": _make_retrieve_rows,
}


def patch_modal() -> bool:
    """Patch the installed modAL in place so that its active-learning loop works; idempotent.

    * ``check_X_y`` in each imported modAL module that uses it is replaced by a shim that
      forwards ``force_all_finite=`` as ``ensure_all_finite=`` when scikit-learn has the new
      name (>= 1.6; required >= 1.8); every other argument is passed through unchanged.
    * ``data_vstack`` (how ``teach`` grows the training data) stacks pandas ``Series`` /
      ``DataFrame`` blocks with ``pd.concat``, and ``retrieve_rows`` takes pandas rows by
      position (``.iloc``); other data go to modAL's own functions.
    * ``query`` of ``BaseLearner`` and ``BaseCommittee`` (so ``ActiveLearner``,
      ``BayesianOptimizer``, ``Committee``, ``CommitteeRegressor``, ...) is replaced by one
      that calls ``query_strategy`` exactly once, accepts ``(indices, scores)`` or bare
      indices, and returns ``(indices, X_pool rows)`` (pandas rows by position, ``.iloc``)
      — or ``(indices, rows, scores)`` when called with ``return_metrics=True`` on a modAL
      that has that argument (0.4.2.x). Signature and docstring stay those of the installed
      modAL.

    Returns
    -------
    bool
        True if this call patched anything, False if everything was already patched.

    Raises
    ------
    ImportError
        modAL is not installed (the message names the command that installs it).
    """
    with _lock:
        if _state_unchanged():
            return False
        base = _import_modal()
        retrieve_rows = importlib.import_module("modAL.utils.data").retrieve_rows
        retrieve_rows = getattr(retrieve_rows, "__wrapped__", retrieve_rows)
        changed = False
        for module in _modal_modules():
            for name, make in _FUNCTION_SHIMS.items():
                func = module.__dict__.get(name)
                if callable(func) and not _is_marked(func):
                    setattr(module, name, make(func))
                    changed = True
        for owner in _query_owners(base):
            original = owner.__dict__["query"]
            if _is_marked(original):
                continue
            query = _make_query(original, retrieve_rows)
            if query is None:
                warnings.warn(
                    f"skanchor: left {owner.__module__}.{owner.__qualname__}.query unpatched: "
                    f"unknown signature {inspect.signature(original)}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            owner.query = query
            changed = True
        _remember_state(base)
        return changed


def is_patched() -> bool:
    """Whether the imported modAL is fully patched by :func:`patch_modal`.

    False when modAL has not been imported (this never imports it).
    """
    base = sys.modules.get(_BASE_MODULE)
    if base is None or not all(hasattr(base, name) for name in _QUERY_BASES):
        return False
    with _lock:
        return _state_unchanged() or _remember_state(base)


def _state_unchanged() -> bool:
    state = _last_state
    return (
        state is not None
        and state[0] == len(sys.modules)
        and sys.modules.get(_BASE_MODULE) is state[1]
        and all(vars(owner).get(name) is func for owner, name, func in state[2])
    )


def _remember_state(base: ModuleType) -> bool:
    """Record the patched names if modAL is fully patched; return whether it is."""
    global _last_state
    items = [(owner, "query", owner.__dict__["query"]) for owner in _query_owners(base)]
    items += [
        (module, name, module.__dict__[name])
        for module in _modal_modules()
        for name in _FUNCTION_SHIMS
        if callable(module.__dict__.get(name))
    ]
    done = all(_is_marked(func) for _, _, func in items)
    _last_state = (len(sys.modules), base, tuple(items)) if done else None
    return done


# --- what a strategy returns -----------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _expects_scores(query: Callable[..., Any]) -> bool:
    """Whether an (unpatched) modAL ``query`` unpacks ``(indices, scores)``.

    That protocol came with modAL 0.4.2 together with ``query``'s ``return_metrics``
    argument, which identifies it in the code that actually runs; the package metadata is
    the fallback for a ``query`` that cannot be inspected.
    """
    try:
        return "return_metrics" in inspect.signature(query).parameters
    except (TypeError, ValueError):
        version = modal_version()
        return version is None or version >= (0, 4, 2)


def format_query_result(positions: Any, scores: Any, caller: Any) -> Any:
    """What a query strategy should return to ``caller``: ``(positions, scores)`` or ``positions``.

    * ``caller`` is not a modAL learner/committee (a direct call): ``(positions, scores)``.
    * its ``query`` is patched by :func:`patch_modal`: ``(positions, scores)``.
    * unpatched modAL 0.4.2.x: ``(positions, scores)`` (what its ``query`` unpacks).
    * unpatched modAL 0.4.1: bare ``positions`` (a tuple would be returned to the user as
      ``(indices, instances)``), also when called directly with its learner, as modAL
      0.4.1's own strategies do.

    modAL objects are recognised by ``isinstance`` against modAL's ``BaseLearner`` /
    ``BaseCommittee`` only if modAL is already imported; modAL is never imported here. The
    shape follows the ``query`` of the caller's class as it is now: call :func:`patch_modal`
    before querying, not from inside a strategy while an unpatched ``query`` runs.
    """
    base = sys.modules.get(_BASE_MODULE)
    bases = tuple(getattr(base, name, None) for name in _QUERY_BASES) if base else ()
    if not bases or None in bases or not isinstance(caller, bases):
        return positions, scores
    query = getattr(type(caller), "query", None)
    if query is None or _is_marked(query):
        return positions, scores
    return (positions, scores) if _expects_scores(query) else positions


def modal_strategy(func: _F) -> _F:
    """Decorate a strategy ``func(classifier, X, n_instances=1, **kw) -> (positions, scores)``.

    The decorated strategy returns :func:`format_query_result` for its ``classifier``: the
    shape that whatever modAL is calling it expects, and ``(positions, scores)`` when it is
    called directly.
    """

    @functools.wraps(func)
    def strategy(classifier: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        positions, scores = func(classifier, X, *args, **kwargs)
        return format_query_result(positions, scores, classifier)

    return strategy  # type: ignore[return-value]
