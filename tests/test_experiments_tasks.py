"""Tasks (App. B.2 recipes) and the corpus loaders: packaged, local parquet, hub, user files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skanchor.experiments.loaders import (
    DATASETS,
    TASKS,
    build_task,
    find_data_dir,
    load_corpus,
    load_table,
)
from skanchor.experiments.tasks import Corpus, make_task

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def toy_corpus(split: bool = False) -> Corpus:
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 80 + ["d"] * 20
    rng = np.random.default_rng(1)
    order = rng.permutation(len(labels))
    labels = [labels[i] for i in order]
    splits = ["test" if i % 4 == 0 else "train" for i in range(len(labels))] if split else None
    return Corpus("toy", [f"doc {i}" for i in range(len(labels))], labels, split=splits)


def test_binary_one_vs_rest_downsamples_the_pool_only():
    corpus = toy_corpus(split=True)
    task = make_task(corpus, "c", rate=0.01, seed=0)
    assert task.classes == ("c", "others") and task.minority == ("c",)
    counts = task.counts()
    train = corpus.split == "train"
    n_major = int((train & (corpus.labels != "c")).sum())
    assert counts["pool"]["others"] == n_major
    assert counts["pool"]["c"] == math.ceil(0.01 * n_major / 0.99)
    # the test set keeps every minority item
    assert counts["test"]["c"] == int(((corpus.split == "test") & (corpus.labels == "c")).sum())
    assert counts["test"]["others"] == int(
        ((corpus.split == "test") & (corpus.labels != "c")).sum()
    )
    # oracle and ids
    assert set(task.oracle(np.arange(task.n_pool))) == {"c", "others"}


def test_two_class_corpus_keeps_the_majority_name_and_rarer_classes_stay_whole():
    corpus = Corpus("two", [f"t{i}" for i in range(200)], ["ham"] * 190 + ["spam"] * 10)
    task = make_task(corpus, "spam", rate=0.2, test_size=0.5, seed=3)
    assert task.classes == ("ham", "spam")
    assert task.counts()["pool"]["spam"] == 5  # natural 5% < 20%: nothing to drop


def test_multiclass_with_others_and_caps():
    corpus = toy_corpus()
    task = make_task(corpus, ["c", "d"], rate=0.02, test_size=0.3, max_test_majority=50, seed=0)
    assert task.classes == ("c", "d", "others") and task.majority == ("others",)
    counts = task.counts()
    assert counts["test"]["others"] == 50
    n_major = counts["pool"]["others"]
    target = math.ceil(0.02 * n_major / (1 - 2 * 0.02))
    assert counts["pool"]["c"] == target
    assert counts["pool"]["d"] <= target  # d is already rare: kept whole
    small = make_task(corpus, ["c"], rate=0.05, pool_size=200, seed=0)
    assert small.n_pool <= 200 + 1
    assert small.counts()["pool"]["c"] == math.ceil(0.05 * small.counts()["pool"]["others"] / 0.95)


def test_natural_rate_and_multilabel_takes_the_first_listed_minority():
    corpus = Corpus(
        "ml",
        [f"t{i}" for i in range(8)] * 10,
        [["x", "y"], ["y"], [], ["z"], ["x"], [], ["y", "x"], []] * 10,
        multilabel=True,
    )
    task = make_task(corpus, ["y", "x"], rate=None, test_size=0.25, seed=0)
    labels = dict(
        zip(
            corpus.texts[:8],
            ["y", "y", "others", "others", "x", "others", "y", "others"],
            strict=True,
        )
    )
    for text, label in zip(task.pool_texts, task.pool_labels, strict=True):
        assert label == labels[text]
    # a single label in a multi-label column is a list of one, not its characters
    mixed = Corpus("mx", ["a", "b", "c"], ["spam", ["spam", "promo"], None], multilabel=True)
    assert mixed.labels.tolist() == [("spam",), ("spam", "promo"), ()]
    assert mixed.classes() == ["promo", "spam"]
    # a class whose documents all went to an earlier-listed class: the error says so
    overlap = Corpus("ov", [f"t{i}" for i in range(40)], [["x", "y"], ["x"]] * 20, multilabel=True)
    with pytest.raises(ValueError, match=r"20 of the 20 documents that carry it went to a class "
                       r"listed before it.*list it earlier"):  # fmt: skip
        make_task(overlap, ["x", "y"], rate=None, test_size=0.25, seed=0)


def test_tasks_are_deterministic_and_ids_are_shuffled():
    corpus = toy_corpus()
    a = make_task(corpus, "c", rate=0.05, seed=4)
    b = make_task(corpus, "c", rate=0.05, seed=4)
    c = make_task(corpus, "c", rate=0.05, seed=5)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    positions = np.array([int(t.split()[1]) for t in a.pool_texts])
    assert not (np.diff(positions) > 0).all()  # ids do not follow the corpus order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minority": "zzz"}, "does not occur in corpus 'toy'; its classes: a, b, c, d"),
        ({"minority": ["c", "c"]}, "lists a class twice"),
        ({"minority": "c", "rate": 1.5}, "'rate' parameter of make_task must be a float in"),
        ({"minority": ["c", "d"], "rate": 0.5}, "leaves no room for the majority"),
        ({"minority": "c", "others_label": "c"}, "also a minority class"),
        ({"minority": "c", "pool_size": 0}, "'pool_size' parameter of make_task must be an int"),
        ({"minority": "c", "max_chars": 2.5}, "'max_chars' parameter of make_task must be an int"),
    ],
)
def test_make_task_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_task(toy_corpus(), **kwargs)


def test_minority_absent_from_the_pool():
    corpus = Corpus("t", ["x"] * 10, ["a"] * 9 + ["b"], split=["train"] * 9 + ["test"])
    with pytest.raises(
        ValueError,
        match=r"'b' is absent from the pool .*\(1 item in the corpus, split by its split column\)",
    ):
        make_task(corpus, "b")


def test_a_class_of_two_items_has_one_on_each_side():
    """round(0.25 * 2) is 0 (half to even): the random split keeps one item of a two-item
    class for the test set instead of failing with advice about the rate (QA report)."""
    corpus = Corpus("t", [f"x{i}" for i in range(42)], ["a"] * 40 + ["b"] * 2)
    task = make_task(corpus, "b", rate=None)
    assert task.counts()["pool"]["b"] == 1 and task.counts()["test"]["b"] == 1
    lone = Corpus("t", [f"x{i}" for i in range(41)], ["a"] * 40 + ["b"])
    with pytest.raises(ValueError, match=r"\(1 item in the corpus\); choose a class with more"):
        make_task(lone, "b", rate=None)


def test_a_binary_corpus_may_call_its_rare_class_others():
    """The majority of a binary corpus keeps its own name, so nothing clashes (QA report)."""
    corpus = Corpus("t", [f"x{i}" for i in range(100)], ["keep"] * 90 + ["others"] * 10)
    task = make_task(corpus, "others", rate=None)
    assert task.classes == ("keep", "others") and task.minority == ("others",)
    three = Corpus("t", [f"x{i}" for i in range(30)], ["a", "b", "others"] * 10)
    with pytest.raises(ValueError, match="others_label='others' is also a minority class"):
        make_task(three, "others", rate=None)


def test_labels_are_read_as_written(tmp_path):
    """``None``, ``NA``, ``null`` and ``nan`` are labels (and texts) like any other; only an
    empty cell is missing, and labels lose surrounding spaces (QA report: 300 rows labelled
    "None" vanished without a word)."""
    path = tmp_path / "data.csv"
    path.write_text(
        "text,label\n"
        + "".join(f"msg {i},None\n" for i in range(30))
        + "".join(f"msg {i},NA\n" for i in range(30, 60))
        + "".join(f"msg {i}, spam \n" for i in range(60, 70))
        + "NA,null\n"
        + "no label,\n"
        + ",nan\n"
    )
    corpus = load_table(path)
    assert corpus.classes() == ["NA", "None", "null", "spam"]
    assert len(corpus) == 71  # the rows without a label or a text are left out, and said so
    assert corpus.texts[70] == "NA"
    assert corpus.notes == (
        "1 row of data.csv without a label (label) left out",
        "1 row of data.csv without a text (text) left out",
    )
    task = make_task(corpus, " spam", rate=None)
    assert task.minority == ("spam",)
    assert task.summary().endswith("note: 1 row of data.csv without a text (text) left out")
    # a boolean column reads as a CSV of it is written (QA report: parquet gave "true")
    frame = pd.DataFrame(
        {"text": [f"t{i}" for i in range(40)], "label": [i % 4 == 0 for i in range(40)]}
    )
    frame.to_parquet(tmp_path / "flags.parquet")
    frame.to_csv(tmp_path / "flags.csv", index=False)
    for name in ("flags.parquet", "flags.csv"):
        assert load_table(tmp_path / name).classes() == ["False", "True"], name
    latin = tmp_path / "latin.csv"
    rows = "".join(f"text {i},a\n" for i in range(20_000))  # past pandas' first chunk
    latin.write_bytes(f"text,label\n{rows}caf\u00e9,a\n".encode("latin-1"))
    bad_at = len(f"text,label\n{rows}caf")
    with pytest.raises(
        ValueError, match=rf"'latin.csv' is not UTF-8 \(line 20,002, byte {bad_at:,} of the file"
    ):
        load_table(latin)


# -- loaders --------------------------------------------------------------------------------


def test_packaged_bbc_news_needs_nothing_else():
    corpus, spec = load_corpus("bbc-news")
    assert len(corpus) == 2225 and corpus.classes() == [
        "business",
        "entertainment",
        "politics",
        "sports",
        "tech",
    ]
    task = build_task("bbc-tech")
    assert task.minority == ("tech",) and task.params["rate"] == spec.rate == 0.02


def test_user_files(tmp_path):
    df = pd.DataFrame(
        {
            "body": [f"message {i}" for i in range(60)],
            "kind": ["ok"] * 50 + ["bad"] * 10,
            "part": ["train", "test"] * 30,
        }
    )
    for suffix, write in (
        (".csv", lambda p: df.to_csv(p, index=False)),
        (".tsv", lambda p: df.to_csv(p, index=False, sep="\t")),
        (".jsonl", lambda p: df.to_json(p, orient="records", lines=True)),
        (".parquet", lambda p: df.to_parquet(p)),
    ):
        path = tmp_path / f"data{suffix}"
        write(path)
        corpus = load_table(path, text_column="body", label_column="kind", split_column="part")
        assert len(corpus) == 60 and corpus.classes() == ["bad", "ok"]
        task = build_task(
            str(path),
            text_column="body",
            label_column="kind",
            split_column="part",
            minority=["bad"],
            rate="natural",
        )
        assert task.counts()["pool"] == {"bad": 5, "ok": 25}
    with pytest.raises(ValueError, match=r"has no column 'text' .*its columns: body, kind, part"):
        load_table(tmp_path / "data.csv")
    with pytest.raises(ValueError, match="name the minority class"):
        build_task(str(tmp_path / "data.csv"), text_column="body", label_column="kind")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"cannot read 'notes.txt'"):
        load_table(tmp_path / "notes.txt")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid names: bbc-news, sms-spam"):
        build_task("nope")
    with pytest.raises(ValueError, match="takes no option 'source'"):
        load_corpus("bbc-news", source="x")


def test_paper_tasks_through_the_hub_loader_on_local_fixtures(tmp_path):
    pytest.importorskip("datasets")
    cache = str(tmp_path / "hf-cache")
    corpus, _ = load_corpus("agnews", source=str(FIXTURES / "ag_news"), cache_dir=cache)
    assert corpus.classes() == ["Business", "Sci/Tech", "Sports", "World"]
    assert sorted(set(corpus.split)) == ["test", "train"]
    task = build_task("agnews-bus", source=str(FIXTURES / "ag_news"), cache_dir=cache)
    assert task.minority == ("Business",)
    assert task.counts()["pool"] == {"Business": 1, "others": 30}  # 1% of the pool
    assert task.counts()["test"] == {"Business": 5, "others": 15}  # the test set is untouched

    task = build_task(
        "wikitoxic", source=str(FIXTURES / "wiki_toxic"), cache_dir=cache, max_test_majority=8
    )
    assert task.classes == ("non", "tox") and task.counts()["test"] == {"non": 8, "tox": 6}

    task = build_task("amazon-multi", source=str(FIXTURES / "amazoncat-13k"), cache_dir=cache)
    assert task.classes == ("agriculture", "archaeology", "audio", "others", "philosophy")
    assert task.counts()["pool"] == {
        "agriculture": 6,
        "archaeology": 6,
        "audio": 6,
        "others": 24,
        "philosophy": 6,
    }


def test_registry_covers_the_issue():
    assert {
        "agnews",
        "wikitoxic",
        "amazoncat-13k",
        "reuters",
        "imdb",
        "20newsgroups",
        "sst2",
        "sms-spam",
        "bbc-news",
    } <= set(DATASETS)
    assert {"agnews-bus", "wikitoxic", "amazon-agri", "amazon-multi"} <= set(TASKS)


@pytest.mark.data
def test_local_corpora(shared_data):
    assert find_data_dir(shared_data) == shared_data
    sms = build_task("sms-spam", data_dir=str(shared_data))
    assert sms.counts()["pool"]["spam"] == math.ceil(0.01 * sms.counts()["pool"]["ham"] / 0.99)
    reuters = build_task("reuters-multi", data_dir=str(shared_data))
    assert reuters.classes == ("cocoa", "coffee", "gold", "others")
    assert reuters.params["rate"] is None  # natural imbalance
    sst2, _ = load_corpus("sst2", data_dir=str(shared_data))
    assert sorted(set(sst2.split)) == ["test", "train"] and sst2.classes() == [
        "negative",
        "positive",
    ]


def test_pandas_missing_values_and_odd_splits_are_left_out_and_said(tmp_path):
    """pd.NA (nullable dtypes, as convert_dtypes() writes them) is missing like NaN (QA report:
    it became a class '<NA>'); documents of a split other than train/test are left out with a
    note; --pool-size holds exactly (QA report: 2,002 from ceil(20.000000000000004))."""
    frame = pd.DataFrame(
        {
            "text": [f"doc {i}" for i in range(60)],
            "label": pd.array([1, 0, 0, None] * 15, dtype="Int64"),
            "part": ["train", "test", "validation"] * 20,
        }
    )
    frame.to_parquet(tmp_path / "na.parquet")
    corpus = load_table(tmp_path / "na.parquet", split_column="part")
    assert corpus.classes() == ["0", "1"] and len(corpus) == 45
    assert corpus.notes == ("15 rows of na.parquet without a label (label) left out",)
    task = make_task(corpus, "1", rate=None)
    assert task.notes[-1] == "15 documents of split 'validation' (not train or test) left out"
    # a text given twice (an export of a double-annotated session) is kept once: it would
    # sit in the pool and the test set at once (QA report)
    twice = pd.DataFrame(
        {"text": [f"doc {i}" for i in range(20)] * 2, "label": ["a", "b"] * 10 + ["b"] * 20}
    )
    twice.to_csv(tmp_path / "twice.csv", index=False)
    once = load_table(tmp_path / "twice.csv")
    assert len(once) == 20 and once.labels.tolist() == ["a", "b"] * 10
    assert once.notes == (
        "20 rows repeating an earlier text left out (10 with another label; the first row's "
        "label is kept)",
    )
    rng = np.random.default_rng(0)
    many = Corpus("toy", [f"d {i}" for i in range(20_000)], rng.choice(list("abcde"), 20_000))
    sized = make_task(many, ["a", "b"], rate=0.01, pool_size=2000)
    assert sized.n_pool == 2000 and sized.counts()["pool"]["a"] == 20
