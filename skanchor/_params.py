"""Registry names and per-class parameters, declared with scikit-learn's parameter constraints.

Two rules shared by every entry point (CLI, config files, Python):

- **Names.** A registry name (strategy, anchor strategy, method, classifier, filter) is
  matched by :func:`normalize_name`: case-insensitive, ``-`` and ``_`` equivalent, surrounding
  spaces ignored, so ``"Least-Confidence"`` and ``"least_confidence"`` are the same name.
- **Per-class values.** A parameter that may differ between classes (anchors per class,
  neighbours per anchor, subpool size, anchor strategy) takes one value for every class or a
  ``{class label: value}`` mapping; :func:`per_class` reads the value of one class, falling
  back to a documented default for classes the mapping does not list.

:class:`RegistryName` and :class:`PerClass` are constraints for ``_parameter_constraints`` /
``sklearn.utils._param_validation.validate_params``, so these rules are declared once, next to
the other constraints, and checked by scikit-learn's machinery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Options, StrOptions, _Constraint, make_constraint

__all__ = [
    "PerClass",
    "RegistryName",
    "RoundState",
    "label_key",
    "lookup_name",
    "normalize_name",
    "per_class",
]


def normalize_name(name: str) -> str:
    """The canonical form of a registry name: stripped, lower case, ``-`` written as ``_``.

    >>> normalize_name("  Least-Confidence ")
    'least_confidence'
    """
    return name.strip().lower().replace("-", "_")


def lookup_name(registry: Iterable[str], name: Any, what: str) -> str:
    """The key of ``registry`` that ``name`` names (see :func:`normalize_name`).

    Raises
    ------
    ValueError
        ``name`` is not a string or names no key; the message lists the valid names.
    """
    keys = list(registry)
    if isinstance(name, str):
        wanted = normalize_name(name)
        for key in keys:
            if normalize_name(key) == wanted:
                return key
    raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(keys)}")


def label_key(label: Any) -> Any:
    """A class label as a plain Python scalar (numpy scalars become ``int``/``str``/...)."""
    return label.item() if isinstance(label, np.generic) else label


def per_class(value: Any, label: Any, default: Any) -> Any:
    """The value of a per-class parameter for class ``label``: ``value`` itself when it is not
    a mapping, else ``value[label]``, or ``default`` for a class the mapping does not list."""
    if isinstance(value, Mapping):
        return value.get(label_key(label), default)
    return value


def check_per_class_keys(
    owner: Any, names: Iterable[str], classes: Iterable[Any], where: str
) -> None:
    """Every key of ``owner``'s per-class parameters ``names`` must be one of ``classes``: a
    misspelt class (``{"Spam": 2}``) would otherwise fall back to the default silently."""
    listed = {label_key(c) for c in classes}
    for name in names:
        value = getattr(owner, name)
        if isinstance(value, Mapping):
            extra = [k for k in value if label_key(k) not in listed]
            if extra:
                raise ValueError(
                    f"{name} has key {extra[0]!r}, which is not in {where} "
                    f"({', '.join(map(repr, sorted(listed, key=str)))})"
                )


class RegistryName(StrOptions):
    """Constraint: a string that :func:`normalize_name` maps to a key of ``registry``.

    The registry is read at each check (a dict that gains an entry later is seen).
    """

    def __init__(self, registry: Iterable[str]):
        _Constraint.__init__(self)
        self.type = str
        self.deprecated = set()
        self.registry = registry

    @property
    def options(self) -> set[str]:
        return set(self.registry)

    def is_satisfied_by(self, val: Any) -> bool:
        return isinstance(val, str) and normalize_name(val) in {
            normalize_name(option) for option in self.registry
        }

    def __str__(self) -> str:
        names = ", ".join(repr(option) for option in self.registry)
        return f"a str among {{{names}}} (case-insensitive, '-' and '_' alike)"


class PerClass(Options):
    """Constraint: a mapping ``{class label: value}`` whose values all satisfy ``constraint``.

    ``constraint`` is any scikit-learn constraint (an ``Interval``, a type, a
    :class:`RegistryName`, ...).
    """

    def __init__(self, constraint: Any):
        super().__init__(Mapping, set())
        self.constraint = make_constraint(constraint)

    def is_satisfied_by(self, val: Any) -> bool:
        return isinstance(val, Mapping) and all(
            self.constraint.is_satisfied_by(v) for v in val.values()
        )

    def __str__(self) -> str:
        return f"a dict {{class label: {self.constraint}}}"


class RoundState:
    """Mixed into an estimator (before ``BaseEstimator``) that builds state from its
    parameters as rounds go by (a random stream, cached neighbours): ``set_params`` drops that
    state, so new parameters take effect from the next call, as after a refit. The attributes
    are listed in ``_round_state``."""

    _round_state: ClassVar[tuple[str, ...]] = ("random_state_",)

    def set_params(self, **params: Any) -> Any:
        super().set_params(**params)  # type: ignore[misc]
        for name in self._round_state:
            self.__dict__.pop(name, None)
        return self
