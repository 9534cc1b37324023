"""An experiment's configuration: the task, the protocol, and what is compared.

:class:`ExperimentConfig` holds everything a results directory needs to be reproduced; it
reads from and writes to plain dicts (TOML / YAML / JSON files, the CLI's flags), validates
every name against the registries and lists the valid ones when a name is wrong.

Defaults follow the paper's protocol (§4): 100 initial labels with 5 per minority class,
25 per round, a budget of 5,000 labels, AnchorAL vs RandSub vs SEALS vs No-Op vs Random,
entropy sampling. The classifier defaults to logistic regression on frozen embeddings (the
CPU-friendly choice; ``classifiers = ["transformer"]`` is the paper's).

>>> config = ExperimentConfig.from_dict({"dataset": "sms-spam", "budget": 300, "seeds": [0, 1]})
>>> [run.run_id for run in config.runs()][:2]
['anchoral-entropy-logreg-seed0', 'anchoral-entropy-logreg-seed1']
>>> config.n_rounds
8
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skanchor.experiments.components import (
    CLASSIFIERS,
    METHODS,
    check_strategy,
    get_classifier,
    get_method,
)
from skanchor.experiments.features import DEFAULT_EMBEDDER
from skanchor.experiments.seeds import Seeds, seed_grid
from skanchor.index import make_index as index_from_spec

__all__ = ["ExperimentConfig", "RunSpec", "flatten_sections", "load_config_file", "parse_duration"]


@dataclass(frozen=True)
class RunSpec:
    """One run: a method, a strategy, a classifier and its seeds."""

    method: str
    strategy: str
    classifier: str
    seeds: Seeds

    @property
    def run_id(self) -> str:
        return f"{self.method}-{self.strategy}-{self.classifier}-{self.seeds.label}"

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "method": self.method,
            "strategy": self.strategy,
            "classifier": self.classifier,
            "seeds": dataclasses.asdict(self.seeds),
        }


def parse_duration(value: Any) -> float | None:
    """Seconds from ``3600``, ``"90s"``, ``"30m"``, ``"6h"``, ``"1h30m"``; None/"none" is None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"time_limit must be positive, got {value!r}")
        return float(value)
    text = str(value).strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd])", "", text).strip():
        raise ValueError(f"cannot read a duration from {value!r} (examples: 3600, 90s, 30m, 6h)")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return parse_duration(sum(float(n) * scale[u] for n, u in parts))


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _names(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list of names, got {value!r}")
    return list(dict.fromkeys(str(v) for v in value))


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment (see the CLI's ``--help`` for each field)."""

    # task
    dataset: str = "bbc-news"
    minority: list[str] | None = None
    rate: float | str | None = None
    test_size: float | None = None
    max_test_majority: int | None = None
    pool_size: int | None = None
    max_chars: int | None = None
    task_seed: int = 0
    text_column: str | None = None
    label_column: str | None = None
    split_column: str | None = None
    data_dir: str | None = None
    source: str | None = None
    # features
    embedder: str = DEFAULT_EMBEDDER
    embedder_params: dict = field(default_factory=dict)
    embed_batch_size: int = 32
    index: str = "hnsw"
    index_params: dict = field(default_factory=dict)
    # protocol
    n_initial: int = 100
    n_initial_per_minority: int = 5
    batch_size: int = 25
    budget: int = 5000
    time_limit: float | None = None
    # what is compared
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    strategies: list[str] = field(default_factory=lambda: ["entropy"])
    classifiers: list[str] = field(default_factory=lambda: ["logreg"])
    seeds: list[Any] = field(default_factory=lambda: [0, 1, 2])
    seed_grid: dict | None = None
    method_params: dict = field(default_factory=dict)
    strategy_params: dict = field(default_factory=dict)
    classifier_params: dict = field(default_factory=dict)

    #: Fields a resumed experiment may change (they add runs or only stop them earlier).
    FREE_ON_RESUME = ("methods", "strategies", "classifiers", "seeds", "seed_grid", "time_limit")

    def __post_init__(self) -> None:
        self.validate()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict, base: ExperimentConfig | None = None) -> ExperimentConfig:
        """A config from ``data`` on top of ``base`` (or the defaults); unknown keys fail."""
        data = flatten_sections(dict(data))
        known = set(cls.fields())
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown configuration key {unknown[0]!r}; valid keys: {', '.join(cls.fields())}"
            )
        values = dataclasses.asdict(base) if base is not None else {}
        values.update({k.replace("-", "_"): v for k, v in data.items()})
        return cls(**values)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes: Any) -> ExperimentConfig:
        return ExperimentConfig.from_dict(changes, base=self)

    # -- validation --------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field; names are canonicalised (``AnchorAL`` -> ``anchoral``)."""
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a name or a path, got {self.dataset!r}")
        if self.minority is not None:
            self.minority = _names(self.minority, "minority")
        if isinstance(self.rate, str) and self.rate != "natural":
            try:
                self.rate = float(self.rate)
            except ValueError:
                raise ValueError(f"rate must be a number or 'natural', got {self.rate!r}") from None
        for name in (
            "n_initial",
            "n_initial_per_minority",
            "batch_size",
            "budget",
            "embed_batch_size",
        ):
            _positive_int(getattr(self, name), name)
        self.time_limit = parse_duration(self.time_limit)
        if not isinstance(self.embedder_params, dict) or not isinstance(self.index_params, dict):
            raise ValueError("embedder_params and index_params must be tables {param: value}")
        index_from_spec(self.index)  # a name or a Milvus URI; raises a ValueError naming it
        self.methods = [get_method(m).name for m in _names(self.methods, "methods")]
        self.strategies = [check_strategy(s) for s in _names(self.strategies, "strategies")]
        self.classifiers = [get_classifier(c).name for c in _names(self.classifiers, "classifiers")]
        for name, registry in (("method_params", METHODS), ("classifier_params", CLASSIFIERS)):
            params = getattr(self, name)
            if not isinstance(params, dict):
                raise ValueError(f"{name} must be a table {{name: {{param: value}}}}")
            for key in params:
                if key not in registry:
                    raise ValueError(
                        f"{name} names unknown {key!r}; valid names: {', '.join(registry)}"
                    )
        if not isinstance(self.strategy_params, dict):
            raise ValueError("strategy_params must be a table {strategy: {param: value}}")
        for key in self.strategy_params:
            check_strategy(key)
        for method, params in self.method_params.items():  # unknown parameters fail early
            METHODS[method].make(None, params)
        if self.budget < self.n_initial + self.batch_size:
            raise ValueError(
                f"budget={self.budget} is smaller than one round: the initial set "
                f"({self.n_initial}) plus one batch ({self.batch_size}) needs "
                f"{self.n_initial + self.batch_size}"
            )
        if isinstance(self.seeds, (list, tuple)):
            self.seeds = [s.label if isinstance(s, Seeds) else s for s in self.seeds]
        self.run_seeds()  # seeds parse

    # -- derived -----------------------------------------------------------------------
    @property
    def n_rounds(self) -> int:
        """Query rounds to reach the budget (the last batch may be smaller)."""
        return math.ceil((self.budget - self.n_initial) / self.batch_size)

    def run_seeds(self) -> list[Seeds]:
        if self.seed_grid:
            grid = {k: list(v) for k, v in self.seed_grid.items()}
            unknown = set(grid) - {"initial", "model", "data", "selection"}
            if unknown:
                raise ValueError(
                    f"seed_grid has unknown source {sorted(unknown)[0]!r}; valid: initial, "
                    "model, data, selection"
                )
            return seed_grid(**grid)
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty list, got {self.seeds!r}")
        seeds = [Seeds.parse(s) for s in self.seeds]
        return list(dict.fromkeys(seeds))

    def runs(self) -> list[RunSpec]:
        """Every run: methods x strategies x classifiers x seeds (Random once per classifier
        and seeds, whatever the strategies)."""
        runs: list[RunSpec] = []
        for method in self.methods:
            spec = METHODS[method]
            strategies = [spec.strategy] if spec.strategy else self.strategies
            for strategy in strategies:
                for classifier in self.classifiers:
                    for seeds in self.run_seeds():
                        runs.append(RunSpec(method, strategy, classifier, seeds))
        return runs

    def task_options(self) -> dict:
        """Keyword options for :func:`skanchor.experiments.loaders.build_task`."""
        return {
            "minority": self.minority,
            "rate": self.rate,
            "test_size": self.test_size,
            "max_test_majority": self.max_test_majority,
            "pool_size": self.pool_size,
            "max_chars": self.max_chars,
            "seed": self.task_seed,
            "text_column": self.text_column,
            "label_column": self.label_column,
            "split_column": self.split_column,
            "data_dir": self.data_dir,
            "source": self.source,
        }

    def identity(self) -> dict:
        """The fields that must match to resume into an existing results directory."""
        data = self.to_dict()
        for key in (*self.FREE_ON_RESUME, "data_dir"):
            data.pop(key, None)
        return data


def flatten_sections(data: dict) -> dict:
    """Accept ``[task]``, ``[protocol]``, ``[features]``, ``[compare]`` tables in files."""
    out: dict = {}
    for key, value in data.items():
        if key in ("task", "protocol", "features", "compare", "experiment") and isinstance(
            value, dict
        ):
            out.update(value)
        else:
            out[key] = value
    return {k.replace("-", "_"): v for k, v in out.items()}


def load_config_file(path: str | Path) -> dict:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON configuration file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib
        with open(path, "rb") as f:
            data = tomllib.load(f)
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ImportError("YAML configuration files need PyYAML: pip install pyyaml") from None
        data = yaml.safe_load(path.read_text()) or {}
    elif suffix == ".json":
        data = json.loads(path.read_text())
    else:
        raise ValueError(f"configuration file {path.name!r}: use .toml, .yaml, .yml or .json")
    if not isinstance(data, dict):
        raise ValueError(f"configuration file {path.name!r} must hold a table of settings")
    return data
