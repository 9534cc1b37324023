"""The benchmarks: the asv suite validates, the scripts import without path tricks, and the
discovery driver (issue 12) runs, resumes and summarises a tiny configuration.

The scripts are modules of the ``benchmarks`` package beside ``skanchor``: run the tests with
``python -m pytest`` from the repository root (as ``.ci/run`` does), which puts the root on
``sys.path``. Nothing here needs the real corpora: the smoke runs use the packaged BBC News
with the library's TF-IDF embedder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

discovery = pytest.importorskip(
    "benchmarks.discovery", reason="run `python -m pytest` from the repository root"
)
from benchmarks import compare, peers  # noqa: E402
from benchmarks.asv.suite import synthetic  # noqa: E402
from skanchor.experiments.store import ResultsDir  # noqa: E402

#: A tiny task on the packaged corpus (no ../shared/data): BBC News, tech at 2% of the pool.
TINY = {"bbc-tech": {"dataset": "bbc-news", "minority": ["tech"], "rate": 0.02, "budget": 150}}
TFIDF = {"embedder": "tfidf", "embedder_params": {"n_components": 32}}


# ------------------------------------------------------------------------------------------
# Layout: the asv suite apart, no sys.path edits, every script runs as a module
# ------------------------------------------------------------------------------------------


def _asv() -> list[str]:
    exe = shutil.which("asv", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "asv"]


def test_asv_check_passes():
    pytest.importorskip("asv", reason="asv not installed (pip install asv)")
    proc = subprocess.run(
        [*_asv(), "check", "--python=same"],
        cwd=BENCH / "asv",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "No problems found" in out, out


def test_no_sys_path_edits_in_benchmarks():
    offenders = [
        str(path.relative_to(ROOT))
        for path in BENCH.rglob("*.py")
        if "sys.path" in path.read_text() and ".peers-venv" not in path.parts
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "script",
    [
        "anchoring_overhead",
        "compare",
        "discovery",
        "embedding_throughput",
        "milvus_vs_hnsw",
        "peers",
        "ray_embedding",
        "text_model_round",
        "transformer_selection",
    ],
)
def test_script_runs_as_a_module(script):
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout


def test_compare_help_and_report():
    """compare.py parses its options and renders a report from a minimal result."""
    args = compare.parse_args(["--quick"])
    assert args.sizes == [10_000] and args.rounds == 3
    text = compare.markdown(
        {
            "args": {},
            "speed": [
                {"method": "smalltext-anchor", "n": 1_000_000, "skipped": "too slow"},
                {"method": "modal-entropy", "n": 10_000, "error": "ImportError: x"},
            ],
        }
    )
    assert "too slow" in text and "ImportError: x" in text


# ------------------------------------------------------------------------------------------
# discovery.py: configurations, results directories, the targets
# ------------------------------------------------------------------------------------------


def test_task_list_and_halves_are_fixed():
    assert len(discovery.TASKS) >= 10
    assert set(discovery.TUNING) | set(discovery.REPORT) == set(discovery.TASKS)
    assert not set(discovery.TUNING) & set(discovery.REPORT)
    assert discovery.select_tasks("tuning") == list(discovery.TUNING)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        discovery.select_tasks(names=["nope"])


def test_every_task_config_is_valid_under_the_protocol():
    for name, spec in discovery.TASKS.items():
        config = discovery.task_config(name)
        assert config.budget == spec.get("budget", 1000)
        assert (config.n_initial, config.n_initial_per_minority, config.batch_size) == (100, 5, 25)
        assert config.embedder_params == discovery.PROTOCOL["embedder_params"]


def test_configuration_experiment_carries_its_params():
    conf = discovery.Configuration(
        "AnchorAL",
        "minority_mix",
        method_params={"n_neighbours": 20},
        strategy_params={"exploit": 0.25},
        classifier_params={"C": 1.0},
    )
    config = conf.experiment("sms-spam", seeds=[0, 1])
    assert config.methods == ["anchoral"] and config.strategies == ["minority_mix"]
    assert config.method_params == {"anchoral": {"n_neighbours": 20}}
    assert config.strategy_params == {"minority_mix": {"exploit": 0.25}}
    assert config.classifier_params == {"logreg": {"C": 1.0}}
    assert [run.seeds.label for run in config.runs()] == ["seed0", "seed1"]


def test_run_dir_changes_with_the_effective_settings(tmp_path):
    base = discovery.CONFIGS["anchoral"].experiment("sms-spam")
    same = discovery.CONFIGS["anchoral"].experiment("sms-spam", seeds=[7])
    other_k = discovery.Configuration("anchoral", method_params={"n_neighbours": 20})
    other_c = discovery.Configuration("anchoral", classifier_params={"C": 0.5})
    path = discovery.run_dir(tmp_path, "sms-spam", "anchoral", base)
    assert path.parent == tmp_path / "sms-spam" and path.name.startswith("anchoral-")
    # seeds may be added to a results directory; anything else makes a new one
    assert discovery.run_dir(tmp_path, "sms-spam", "anchoral", same) == path
    for conf in (other_k, other_c):
        config = conf.experiment("sms-spam")
        assert discovery.run_dir(tmp_path, "sms-spam", "anchoral", config) != path


def test_run_dir_changes_with_a_presets_strategy_parameters(tmp_path, monkeypatch):
    """A preset's own strategy parameters are not in the configuration's identity: a
    changed preset must still get a new results directory, never resume the old one."""
    import dataclasses

    from skanchor.experiments.components import METHODS

    name = discovery.RECOMMENDED
    config = discovery.CONFIGS[name].experiment("sms-spam")
    path = discovery.run_dir(tmp_path, "sms-spam", name, config)
    spec = METHODS[name]
    changed = {**spec.strategy_params, "exploit": 0.25}
    monkeypatch.setitem(METHODS, name, dataclasses.replace(spec, strategy_params=changed))
    assert discovery.run_dir(tmp_path, "sms-spam", name, config) != path


def test_command_line_adds_configurations_by_name(capsys):
    args = discovery.parse_args(
        [
            "run",
            "--configs",
            "anchoral",
            "noop",
            "--methods",
            "anchoral",
            "--strategies",
            "margin",
            "random",
            "--method-params",
            '{"n_neighbours": 20}',
        ]
    )
    chosen = discovery.chosen_configs(args)
    assert list(chosen) == ["anchoral", "noop", "anchoral-margin", "anchoral-random"]
    assert chosen["anchoral-margin"].method_params == {"n_neighbours": 20}
    assert list(discovery.chosen_configs(discovery.parse_args(["summary"]))) == list(
        discovery.BASELINES
    )
    with pytest.raises(SystemExit, match="unknown configuration 'bogus'"):
        discovery.chosen_configs(discovery.parse_args(["run", "--configs", "bogus"]))
    with pytest.raises(SystemExit):
        discovery.parse_args(["run", "--method-params", "{oops"])
    assert "--method-params: not JSON: '{oops'" in capsys.readouterr().err


def _cell(found, auc, auc_q1, per_round):
    q = lambda m, q1=None: {"median": m, "q1": m if q1 is None else q1, "q3": m, "iqr": 0.0}  # noqa: E731
    return {
        "minority_found": q(found),
        "auc_minority_f1": q(auc, auc_q1),
        "selection_per_round": q(per_round),
    }


def test_targets_against_the_best_baseline():
    cells = {
        "t1": {
            "noop": _cell(20, 6.0, 5.0, 0.01),
            "anchoral": _cell(10, 4.0, 3.0, 0.1),
            "new": _cell(30, 5.5, 5.5, 0.15),
        },
        "t2": {
            "noop": _cell(40, 6.0, 5.0, 0.01),
            "anchoral": _cell(50, 8.0, 7.0, 0.1),
            "new": _cell(50, 6.5, 6.5, 0.3),
        },
        "t3": {"noop": _cell(5, 1.0, 1.0, 0.01)},  # the candidate did not run there
    }
    result = discovery.targets(cells, "new", baselines=("noop", "anchoral"))
    assert result["tasks"] == 2
    assert result["found_ratio"]["per_task"] == {"t1": 1.5, "t2": 1.0}
    assert result["found_ratio"]["median"] == pytest.approx(1.25)
    # t1: 5.5 >= Q1 5.0 of No-Op (the best AUC); t2: 6.5 < Q1 7.0 of AnchorAL
    assert result["auc_share"]["per_task"] == {"t1": True, "t2": False}
    assert result["time_ratio"]["per_task"] == pytest.approx({"t1": 1.5, "t2": 3.0})
    assert result["time_ratio"]["max"] == pytest.approx(3.0)
    assert result["met"] == {"found_ratio": False, "auc_share": False, "time_ratio": False}
    assert result["best_baseline"]["t2"] == {"found": "anchoral", "auc": "anchoral"}
    # a baseline is measured against the others, never against itself
    assert discovery.targets(cells, "noop", baselines=("noop", "anchoral"))["found_ratio"][
        "per_task"
    ]["t1"] == pytest.approx(2.0)


def test_paired_differences_seed_by_seed():
    def cell(**aucs):
        return {
            "per_seed": {s: {"auc_minority_f1": v, "minority_found": 1} for s, v in aucs.items()}
        }

    cells = {
        "t1": {"ref": cell(seed0=5.0, seed1=6.0, seed2=7.0), "new": cell(seed0=5.5, seed1=6.0)},
        "t2": {"ref": cell(seed0=1.0, seed1=1.0), "new": cell(seed0=3.0, seed1=0.0)},
        "t3": {"ref": cell(seed0=1.0)},  # the candidate did not run there
    }
    result = discovery.paired(cells, "new", "ref")
    # only seeds both ran are paired: seed2 of t1 is left out
    assert result["per_task"] == {
        "t1": {"seed0": 0.5, "seed1": 0.0},
        "t2": {"seed0": 2.0, "seed1": -1.0},
    }
    assert result["pairs"] == 4
    assert result["mean"] == pytest.approx(0.375)
    assert result["median"] == pytest.approx(0.25)
    assert (result["positive"], result["negative"], result["equal"]) == (2, 1, 1)
    assert result["sign_test_p"] == pytest.approx(1.0)  # 2 up, 1 down: a coin does that
    lopsided = {f"t{i}": {"ref": cell(seed0=0.0), "new": cell(seed0=1.0)} for i in range(8)}
    assert discovery.paired(lopsided, "new", "ref")["sign_test_p"] == pytest.approx(2 / 2**8)


def test_quartiles_match_the_library_median_iqr():
    from skanchor.experiments.metrics import median_iqr

    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    q = discovery.quartiles(values)
    assert (q["median"], q["iqr"]) == median_iqr(values)
    assert q["q1"] <= q["median"] <= q["q3"]


# ------------------------------------------------------------------------------------------
# discovery.py end to end on a tiny task: run, resume, summarise
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("discovery")
    configs = {k: discovery.CONFIGS[k] for k in ("random", "noop", "anchoral")}
    kwargs = {"seeds": [0, 1], "tasks": TINY, "overrides": TFIDF}
    discovery.run(["bbc-tech"], configs, root=root, log=lambda m: None, **kwargs)
    report = discovery.summarise(root, ["bbc-tech"], configs, root / "summary", **kwargs)
    return root, configs, kwargs, report


def test_discovery_runs_every_configuration(tiny_run):
    report = tiny_run[3]
    row = report["cells"]["bbc-tech"]
    assert list(row) == ["random", "noop", "anchoral"]
    for cell in row.values():
        assert cell["runs"] == 2 and cell["seeds"] == ["seed0", "seed1"]
        assert cell["budget"] == 150
        assert 5 <= cell["minority_found"]["median"] <= 55
        assert cell["selection_per_round"]["median"] > 0
        assert set(cell["pool"]) == {"tech", "others"}
    assert set(report["targets"]) == {"random", "noop", "anchoral"}


def test_discovery_writes_tables_json_and_plots(tiny_run):
    root, configs = tiny_run[:2]
    text = (root / "summary" / "summary.md").read_text()
    for name in configs:
        assert f"| {name} | 2 |" in text
    assert "found ÷ best baseline" in text
    data = json.loads((root / "summary" / "summary.json").read_text())
    assert data["cells"]["bbc-tech"]["anchoral"]["runs"] == 2
    assert (root / "summary" / "plots" / "bbc-tech" / "minority_found.png").is_file()


def test_discovery_pairs_configurations_seed_by_seed(tiny_run, tmp_path):
    root, configs, kwargs, report = tiny_run
    cell = report["cells"]["bbc-tech"]["noop"]
    assert set(cell["per_seed"]) == {"seed0", "seed1"}
    again = discovery.summarise(
        root, ["bbc-tech"], configs, tmp_path, plots=False, paired_with="anchoral", **kwargs
    )
    assert set(again["paired"]) == {"random", "noop"}
    noop = again["paired"]["noop"]
    ours = cell["per_seed"]
    theirs = report["cells"]["bbc-tech"]["anchoral"]["per_seed"]
    assert noop["per_task"]["bbc-tech"] == pytest.approx(
        {s: ours[s]["auc_minority_f1"] - theirs[s]["auc_minority_f1"] for s in ours}
    )
    assert noop["pairs"] == 2
    assert "min-F1 AUC - anchoral's, seed by seed" in (tmp_path / "summary.md").read_text()
    with pytest.raises(ValueError, match="paired_with='bogus'"):
        discovery.summarise(root, ["bbc-tech"], configs, tmp_path, plots=False, paired_with="bogus")


def test_refit_reproduces_the_runs_minority_f1(tiny_run):
    """The classifier refitted on each run's labelled set at the start of a round gives the F1
    the run recorded then; with split, the two parts are the initial items plus each side."""
    root, configs, kwargs, _ = tiny_run
    result = discovery.refit(root, "bbc-tech", "noop", configs["noop"], [0, 2], split=10, **kwargs)
    config = configs["noop"].experiment("bbc-tech", seeds=kwargs["seeds"], tasks=TINY, **TFIDF)
    results = ResultsDir(discovery.run_dir(root, "bbc-tech", "noop", config))
    recorded = {0: [], 2: []}
    for spec in config.runs():
        for record in results.run(spec.run_id).load_rounds():
            if record["round"] in recorded:
                recorded[record["round"]].append(record["minority_f1"])
    assert set(result) == {0, 2}
    for r, f1s in recorded.items():
        assert result[r]["all"]["runs"] == 2
        assert result[r]["all"]["f1"] == pytest.approx(np.mean(f1s))
        assert 0 <= result[r]["all"]["recall"] <= 1
    # at round 0 every part is the initial set; later the parts differ from the whole
    assert result[0]["first"] == result[0]["rest"] == result[0]["all"]
    assert set(result[2]) == {"all", "first", "rest"}
    text = discovery.refit_markdown({"noop": result})
    assert "| noop | 2 | first | 2 |" in text
    with pytest.raises(ValueError, match="split must be a positive number of items, got 0"):
        discovery.refit(root, "bbc-tech", "noop", configs["noop"], [0], split=0, **kwargs)


def test_discovery_cli_refuses_an_unknown_pairing_before_running(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("ran before checking --paired-with")

    monkeypatch.setattr(discovery, "run", never)
    argv = ["run", "--tasks", "sms-spam", "--paired-with", "bogus", "--results-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match="--paired-with 'bogus': not among"):
        discovery.main(argv)


def test_discovery_resumes_without_redoing_runs(tiny_run):
    root, configs, kwargs = tiny_run[:3]
    files = sorted(root.glob("bbc-tech/*/runs/*/rounds.jsonl"))
    assert len(files) == 6
    before = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}
    more = {**configs, "randsub": discovery.CONFIGS["randsub"]}
    discovery.run(["bbc-tech"], more, root=root, log=lambda m: None, **kwargs)
    assert {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in files} == before
    assert len(sorted(root.glob("bbc-tech/*/runs/*/rounds.jsonl"))) == 8


def test_discovery_checks_complete_runs_without_the_lock(tiny_run):
    """Two benchmark processes may resume the same finished configuration at once: a finished
    one is read without taking the results directory's write lock."""
    from skanchor.experiments.store import ResultsDir

    root, configs, kwargs = tiny_run[:3]
    (noop_dir,) = root.glob("bbc-tech/noop-*")
    with ResultsDir(noop_dir).lock():  # another process is "writing" there
        spent = discovery.run(
            ["bbc-tech"], {"noop": configs["noop"]}, root=root, log=lambda m: None, **kwargs
        )
    assert spent == {"bbc-tech": {"noop": 0.0}}


def test_task_vectors_serve_their_own_task_only():
    config = discovery.task_config("bbc-tech", TINY, **TFIDF)
    task = discovery.load_task("bbc-tech", config)
    texts = np.concatenate([task.pool_texts, task.test_texts]).tolist()
    vectors = discovery.TaskVectors(task, config)
    first = vectors.fit_transform(texts)
    assert first.shape == (len(texts), 32)
    assert vectors.fit_transform(texts) is first  # computed once
    with pytest.raises(ValueError, match="texts of task 'bbc-tech' only"):
        vectors.transform(texts[::-1])


def test_pool_size_check_runs_the_library_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "CACHE_DIR", tmp_path)
    configs = {"anchoral": discovery.CONFIGS["anchoral"], "noop": discovery.CONFIGS["noop"]}
    result = discovery.pool_size_check(configs, (2_000, 3_000), rounds=2, log=lambda m: None)
    assert set(result) == {"anchoral", "noop"}
    assert all(set(row) == {2_000, 3_000} for row in result.values())
    assert all(q["median"] > 0 for row in result.values() for q in row.values())
    text = discovery.pool_size_markdown(result)
    assert "| anchoral |" in text and "3,000 (ms)" in text


# ------------------------------------------------------------------------------------------
# small-text's AnchorSubsampling as a pool filter
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_pool():
    pytest.importorskip("small_text", reason="small-text not installed (benchmarks extra)")
    from skanchor.experiments.features import make_index

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 16))
    labels = rng.integers(0, 12, 1500)
    X = (centres[labels] + 0.4 * rng.normal(size=(1500, 16))).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(labels < 2, "rare", "common").astype(object)
    labelled = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y == "rare"), 5, replace=False),
                rng.choice(np.flatnonzero(y == "common"), 95, replace=False),
            ]
        )
    )
    return X, y, labelled, make_index(X, "hnsw")


def test_smalltext_filter_is_registered_and_validated():
    from skanchor.experiments.components import get_method

    spec = get_method("smalltext-anchor")
    assert spec.filter_class is peers.SmallTextAnchorSubpool
    with pytest.raises(ValueError, match="no parameter 'bogus'"):
        spec.make(None, {"bogus": 1})


def test_smalltext_filter_subsample(small_pool):
    X, y, labelled, index = small_pool
    pool = np.setdiff1d(np.arange(len(X)), labelled)
    filt = peers.SmallTextAnchorSubpool(index, subsample_size=300, random_state=3)
    sub = filt.select(labelled, y[labelled], pool_ids=pool)
    again = peers.SmallTextAnchorSubpool(index, subsample_size=300, random_state=3).select(
        labelled, y[labelled], pool_ids=pool
    )
    assert len(sub) == 300 and np.unique(sub.ids).size == 300
    assert not np.isin(sub.ids, labelled).any()
    assert np.array_equal(sub.ids, again.ids)  # deterministic for a seed
    # anchors: up to num_anchors labelled items per class
    anchors = np.asarray(sub.info["anchors"])
    assert np.isin(anchors, labelled).all() and anchors.size == 5 + 10


def test_smalltext_filter_selects_as_stock_smalltext(small_pool):
    """Entropy over the filter's subsample picks what stock small-text's
    ``AnchorSubsampling(PredictionEntropy())`` picks, with its anchors seeded the same way."""
    from unittest import mock

    from small_text import SklearnClassifier, SklearnDataset
    from small_text.classifiers.classification import EmbeddingMixin
    from small_text.query_strategies import AnchorSubsampling, PredictionEntropy, subsampling

    from skanchor import AnchoredQueryStrategy
    from skanchor.experiments.components import CLASSIFIERS

    class Embedding(SklearnClassifier, EmbeddingMixin):
        def embed(self, data_set, pbar=None, **kw):
            return data_set.x

    X, y, labelled, index = small_pool
    y_int = (y == "rare").astype(np.int64)
    stock = AnchorSubsampling(PredictionEntropy(), subsample_size=300, num_anchors=10, k=50)
    dataset = SklearnDataset(X, y_int)
    for r in range(3):
        model = CLASSIFIERS["logreg"].make(X, model_seed=0, data_seed=0).fit(labelled, y[labelled])
        pool = np.setdiff1d(np.arange(len(X)), labelled)
        query = AnchoredQueryStrategy(
            peers.SmallTextAnchorSubpool(index, subsample_size=300, random_state=r), "entropy"
        )
        positions, _ = query(model, pool, n_instances=25, labelled_ids=labelled, labels=y[labelled])
        ours = np.sort(pool[positions])
        clf = Embedding(model.named_steps["model"], num_classes=2)
        # classes in sorted label order, as the filter numbers them: "common" 0, "rare" 1
        with mock.patch.object(subsampling, "np", peers._SeededNumpy(r)):
            picked = stock.query(clf, dataset, pool, labelled, y_int[labelled], n=25)
        assert np.array_equal(ours, np.sort(np.asarray(picked))), f"round {r}"
        labelled = np.sort(np.concatenate([labelled, ours]))


def test_finetune_study_runs_seed_by_seed(tmp_path):
    """Every method on seed 0 first, then seed 1, ...: a study cut short stays comparable."""
    from benchmarks import finetune_study

    calls = finetune_study.commands("sms-spam", tmp_path / "study")
    seeds = [c[c.index("--seeds") + 1 : c.index("--methods")] for c in calls]
    assert seeds == [["0"], ["0", "1"], ["0", "1", "2"]]
    assert ["--resume" in c for c in calls] == [False, True, True]
    assert all(c[c.index("--methods") + 1 : c.index("--strategies")] == list(
        finetune_study.METHODS) for c in calls)  # fmt: skip
    with pytest.raises(SystemExit, match="not a TUNING task"):
        finetune_study.commands("sst2-neg", tmp_path / "study")


def test_finetune_study_budget_has_its_own_folder(tmp_path, capsys):
    from benchmarks import finetune_study

    assert finetune_study.default_out("reuters-ship").name == "reuters-ship"
    assert finetune_study.default_out("reuters-ship", 1000).name == "reuters-ship-b1000"
    calls = finetune_study.commands("reuters-ship", tmp_path / "study", 1000)
    assert all(c[c.index("--budget") + 1] == "1000" for c in calls)
    assert finetune_study.main(["run", "--task", "reuters-ship", "--budget", "1000",
                                "--dry-run", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    assert "--budget 1000" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        finetune_study.main(["run", "--budget", "100", "--dry-run"])
    assert "at least 400, got 100" in capsys.readouterr().err
