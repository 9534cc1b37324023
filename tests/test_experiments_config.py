"""One source of truth for experiment options: fields declared once, defaults taken from the
classes, one budget rule, one name normalisation, no import cycle, data folders."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from sklearn.utils._param_validation import InvalidParameterError

import skanchor.experiments as experiments
from skanchor.experiments.components import (
    CLASSIFIERS,
    METHODS,
    PAPER_SETTINGS,
    MethodSpec,
    check_strategy,
    get_classifier,
    get_method,
    normalise_name,
)
from skanchor.experiments.config import (
    SECTIONS,
    ExperimentConfig,
    Protocol,
    cli_options,
    flatten_sections,
)
from skanchor.experiments.loaders import find_data_dir, user_data_dir
from skanchor.presets import PRESETS
from skanchor.strategies import STRATEGIES
from skanchor.subpool import AnchorSubpool, RandomSubpool


def test_method_defaults_are_the_filter_classes_own():
    for name, spec in METHODS.items():
        own = spec.filter_class().get_params(deep=False)
        own = {k: v for k, v in own.items() if k not in ("index", "random_state")}
        preset = PRESETS[name].anchoring if name in PRESETS else {}
        assert spec.defaults == {**own, **PAPER_SETTINGS.get(name, {}), **preset}, name
    assert METHODS["randsub"].defaults["max_size"] == 10_000  # the paper's M, one visible place
    for name, preset in PRESETS.items():  # every preset is a method of `skanchor run`
        if name == "paper":  # ... the paper's is anchoral + entropy
            defaults = METHODS["anchoral"].defaults
            assert {k: defaults[k] for k in preset.anchoring if k != "exploration"} == {
                k: v for k, v in preset.anchoring.items() if k != "exploration"
            }
            assert preset.strategy == "entropy" and METHODS["anchoral"].strategy is None
            continue
        assert METHODS[name].strategy == preset.strategy
        assert dict(METHODS[name].strategy_params) == dict(preset.strategy_params)

    class Wider(AnchorSubpool):
        def __init__(self, index=None, n_anchors=3, n_neighbours=7, max_size=11, random_state=None):
            super().__init__(index, n_anchors, n_neighbours, max_size, random_state=random_state)

    spec = MethodSpec("wider", "Wider", Wider, seeded=True)
    assert spec.defaults == {"n_anchors": 3, "n_neighbours": 7, "max_size": 11}
    made = spec.make(None, {"n_anchors": 5}, random_state=4)
    assert (made.n_anchors, made.n_neighbours, made.random_state) == (5, 7, 4)
    with pytest.raises(ValueError, match="method 'wider' has no parameter 'anchor_strategy'"):
        spec.make(None, {"anchor_strategy": "random"})


def test_the_protocol_holds_the_budget_rule_and_the_rounds():
    config = ExperimentConfig(budget=1000, n_initial=100, batch_size=25)
    assert config.protocol == Protocol(100, 5, 25, 1000, None)
    assert config.n_rounds == config.protocol.n_rounds == 36
    assert Protocol(n_initial=100, batch_size=30, budget=200).n_rounds == 4  # last batch smaller
    for field in dataclasses.fields(Protocol):  # one default for each protocol value
        assert getattr(ExperimentConfig(), field.name) == field.default
    with pytest.raises(ValueError, match=r"budget=110 is smaller than one round.*needs 125"):
        Protocol(budget=110).check_budget()
    with pytest.raises(ValueError, match=r"budget=110 is smaller than one round.*needs 125"):
        ExperimentConfig(budget=110)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"budget": 0}, "'budget' parameter of ExperimentConfig must be an int in the range"),
        ({"batch_size": 2.5}, "'batch_size' parameter of ExperimentConfig must be an int"),
        ({"rate": 1.5}, "'rate' parameter of ExperimentConfig must be"),
        ({"rate": "often"}, "'rate' parameter of ExperimentConfig must be"),
        ({"time_limit": -3}, "'time_limit' parameter of ExperimentConfig must be"),
        ({"seeds": 3}, "'seeds' parameter of ExperimentConfig must be"),
        ({"method_params": []}, "'method_params' parameter of ExperimentConfig must be"),
        ({"task_seed": -1}, "'task_seed' parameter of ExperimentConfig must be"),
    ],
)
def test_fields_are_validated_by_their_declared_constraints(changes, message):
    with pytest.raises(InvalidParameterError, match=message):
        ExperimentConfig(**changes)


def test_lists_of_names_and_their_tables_are_checked():
    with pytest.raises(ValueError, match="methods must name at least one"):
        ExperimentConfig(methods=[])
    with pytest.raises(ValueError, match=r"method_params\['anchoral'\] must be a table"):
        ExperimentConfig(method_params={"anchoral": 3})
    with pytest.raises(ValueError, match="unknown classifier 'svm'"):
        ExperimentConfig(classifier_params={"svm": {}})
    config = ExperimentConfig(
        methods="anchoral, No-Op",
        strategy_params={"Least-Confidence": {}},
        classifier_params={"LogReg": {"C": 1}},
    )
    assert config.methods == ["anchoral", "noop"]
    assert config.strategy_params == {"least_confidence": {}}
    assert config.classifier_params == {"logreg": {"C": 1}}


def test_every_field_is_declared_once_for_files_and_the_command_line():
    fields = dataclasses.fields(ExperimentConfig)
    for field in fields:
        assert field.metadata["section"] in SECTIONS, field.name
        assert field.metadata["constraints"], field.name
    flags = dict((f.name, flag) for f, flag in cli_options())
    assert flags["n_initial"] == "--initial" and flags["budget"] == "--budget"
    # the tables are set in files or with --set, everything else has a flag
    assert set(ExperimentConfig.fields()) - set(flags) == {
        "embedder_params",
        "index_params",
        "method_params",
        "strategy_params",
        "classifier_params",
    }
    # every section of a file is accepted
    data = {
        section: {f.name: getattr(ExperimentConfig(), f.name)}
        for section in SECTIONS
        for f in fields
        if f.metadata["section"] == section and f.name in ("dataset", "index", "budget", "seeds")
    }
    assert set(flatten_sections(data)) == {"dataset", "index", "budget", "seeds"}
    # what a resumed experiment may change is declared with the field
    assert set(ExperimentConfig().to_dict()) - set(ExperimentConfig().identity()) == {
        "methods",
        "strategies",
        "classifiers",
        "seeds",
        "seed_grid",
        "time_limit",
        "data_dir",
    }


def test_one_name_normalisation_for_every_registry():
    assert normalise_name("  Least-Confidence ") == "least_confidence"
    for name in STRATEGIES:
        for variant in (name, name.upper(), name.replace("_", "-"), f" {name} "):
            assert check_strategy(variant) == name
    for name, spec in METHODS.items():
        for variant in (name, name.upper(), spec.label, f" {spec.label.lower()} "):
            assert get_method(variant) is spec
    assert get_method("no_op").name == get_method("No-Op").name == "noop"
    for name, spec in CLASSIFIERS.items():
        assert get_classifier(name.upper()) is spec
    with pytest.raises(ValueError, match="unknown strategy 'bald'; valid names: entropy"):
        check_strategy("bald")


def _imports(path: Path) -> set[str]:
    """The skanchor.experiments modules ``path`` imports, at top level or in a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m.rsplit(".", 1)[-1] for m in found if m.startswith("skanchor.experiments.")}


def test_the_experiments_modules_import_each_other_without_a_cycle():
    folder = Path(experiments.__file__).parent
    graph = {p.stem: _imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            assert state.get(other) != "open", " -> ".join([*path, module, other])
            if other not in state:
                visit(other, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert "report" not in graph["plots"]


def test_data_folders_are_only_where_the_user_says(tmp_path, monkeypatch):
    # a shared/data folder beside the working directory is not searched any more
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.delenv("SKANCHOR_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with pytest.raises(FileNotFoundError) as error:
        find_data_dir()
    message = str(error.value)
    assert "$SKANCHOR_DATA (not set)" in message
    assert str(tmp_path / "xdg" / "skanchor") in message and "--data-dir" in message
    assert "\n" not in message
    monkeypatch.setenv("SKANCHOR_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere' is not a directory"):
        find_data_dir()
    (tmp_path / "xdg" / "skanchor").mkdir(parents=True)
    assert user_data_dir() == tmp_path / "xdg" / "skanchor"
    assert find_data_dir() == tmp_path / "xdg" / "skanchor"
    monkeypatch.setenv("SKANCHOR_DATA", str(tmp_path / "shared" / "data"))
    assert find_data_dir() == tmp_path / "shared" / "data"
    assert find_data_dir(tmp_path / "work") == tmp_path / "work"
    with pytest.raises(FileNotFoundError, match=r"data_dir='.*absent' is not a directory"):
        find_data_dir(tmp_path / "absent")


def test_the_default_embedding_cache_is_the_per_user_one(tmp_path, monkeypatch):
    from skanchor.experiments.runner import default_cache_dir, embedding_cache

    monkeypatch.delenv("SKANCHOR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert embedding_cache() == tmp_path / "skanchor" / "embeddings"
    monkeypatch.setenv("SKANCHOR_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    assert embedding_cache(False) is None and embedding_cache(tmp_path) == tmp_path


def test_random_subpool_default_follows_the_paper_not_the_class():
    spec = MethodSpec("randsub", "RandSub", RandomSubpool, seeded=True)
    assert spec.make(None).max_size == PAPER_SETTINGS["randsub"]["max_size"]


def test_every_estimator_of_the_experiments_declares_its_parameters():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from skanchor.experiments.classifiers import PriorShiftClassifier
    from skanchor.experiments.components import Lookup
    from skanchor.experiments.features import TfidfEmbedder

    for estimator, bad, fit_args in (
        (Lookup(np.eye(3)), {"table": 3}, ([0, 1],)),
        (TfidfEmbedder(), {"n_components": 0}, (["a b", "b c", "c d"],)),
        (PriorShiftClassifier(LogisticRegression()), {"cv": 0}, (np.eye(4), [0, 1, 0, 1])),
    ):
        name = type(estimator).__name__
        assert set(estimator._parameter_constraints) == set(estimator.get_params(deep=False))
        estimator.fit(*fit_args)
        (param,) = bad
        with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of {name}"):
            estimator.set_params(**bad).fit(*fit_args)


def test_protocol_and_seeds_validate_their_values():
    from skanchor.experiments.seeds import Seeds

    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of Protocol"):
        Protocol(batch_size=0)
    with pytest.raises(InvalidParameterError, match="'time_limit' parameter of Protocol"):
        Protocol(time_limit=-1.0)
    with pytest.raises(InvalidParameterError, match="'model' parameter of Seeds"):
        Seeds(0, -2)
