"""One name normalisation and per-class parameters, declared as scikit-learn constraints."""

from numbers import Integral

import numpy as np
import pytest
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

from skanchor._params import PerClass, RegistryName, lookup_name, normalize_name, per_class


@pytest.mark.parametrize(
    ("name", "expected"),
    [("least-confidence", "least_confidence"), ("  BADGE ", "badge"), ("k-Means++", "k_means++")],
)
def test_normalize_name(name, expected):
    assert normalize_name(name) == expected


def test_lookup_name_returns_the_registry_key():
    registry = {"least_confidence": 1, "kmeans++": 2}
    assert lookup_name(registry, "Least-Confidence", "strategy") == "least_confidence"
    assert lookup_name(registry, " KMeans++", "anchor strategy") == "kmeans++"
    with pytest.raises(ValueError, match="unknown strategy 'nope'; valid names: least_confidence"):
        lookup_name(registry, "nope", "strategy")
    with pytest.raises(ValueError, match="unknown strategy 3"):
        lookup_name(registry, 3, "strategy")


def test_registry_name_reads_the_live_registry():
    registry = {"entropy": None}
    constraint = {"strategy": [RegistryName(registry)]}
    validate_parameter_constraints(constraint, {"strategy": "ENTROPY"}, "f")
    with pytest.raises(InvalidParameterError, match="'strategy' parameter of f must be a str"):
        validate_parameter_constraints(constraint, {"strategy": "galaxy"}, "f")
    registry["galaxy"] = None  # registered later: accepted
    validate_parameter_constraints(constraint, {"strategy": "Galaxy"}, "f")


def test_per_class_constraint_and_lookup():
    positive = Interval(Integral, 1, None, closed="left")
    constraint = {"k": [positive, PerClass(positive)]}
    validate_parameter_constraints(constraint, {"k": {"a": 3, np.int64(1): 2}}, "f")
    with pytest.raises(InvalidParameterError, match=r"or a dict \{class label: an int"):
        validate_parameter_constraints(constraint, {"k": {"a": 0}}, "f")
    assert per_class({"a": 3}, np.str_("a"), 9) == 3
    assert per_class({"a": 3}, "b", 9) == 9
    assert per_class(5, "b", 9) == 5
