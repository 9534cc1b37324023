"""``skanchor label`` and ``skanchor export``: the command-line side of a labelling session.

:func:`add_commands` adds both commands to the ``skanchor`` parser; each sets ``handler``
(called with the parsed arguments, returns the exit status). Nothing heavy is imported
until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from skanchor.label.config import DEFAULTS

__all__ = ["add_commands", "export_command", "label_command"]

_LABEL_DESCRIPTION = """\
Label your own data in the browser. Embeds the texts once (cached), builds the index once,
then serves a page that shows one item at a time, best first: a background worker retrains
the model and queries the next items while you label, so the next item is always ready.
Every label is committed to the session's database before the next item is shown; stop the
server at any time and continue with 'skanchor label --resume DB'.

  skanchor label posts.csv --labels hate,offensive,neither --minority hate
  skanchor label --resume posts-label/
  skanchor label posts.csv --labels a,b --db postgresql://me@dbhost/labels --host 0.0.0.0
"""


def _labels(text: str) -> list[str]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if len(labels) < 2:
        raise argparse.ArgumentTypeError(f"give at least two labels, comma-separated: {text!r}")
    return labels


def _params(text: str) -> tuple[str, str, Any]:
    name, sep, value = text.partition("=")
    owner, dot, param = name.partition(".")
    if not sep or not dot or not owner.strip() or not param.strip():
        raise argparse.ArgumentTypeError(
            f"--set takes PART.PARAM=VALUE (PART: filter, strategy, classifier, embedder, stop), "
            f"got {text!r}"
        )
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return owner.strip().lower(), param.strip(), parsed


def add_commands(subparsers: Any) -> None:
    """Add ``label`` and ``export`` to the ``skanchor`` command's subparsers."""
    formatter = argparse.RawDescriptionHelpFormatter
    label = subparsers.add_parser(
        "label",
        formatter_class=formatter,
        help="label your own data in the browser (AnchorAL picks the items)",
        description=_LABEL_DESCRIPTION,
    )
    label.add_argument(
        "data", nargs="?", metavar="DATA", help="CSV/TSV/parquet/JSON(L) file of texts"
    )
    label.add_argument("--labels", type=_labels, help="the labels, comma-separated, in key order")
    label.add_argument(
        "--minority",
        nargs="+",
        metavar="LABEL",
        help="the rare class(es) to find (default: the rarest class labelled so far)",
    )
    label.add_argument("--text-column", default="text", help="column of the texts (default: text)")
    label.add_argument("--id-column", help="column of unique item ids (default: row numbers)")
    label.add_argument(
        "--seed-labels", metavar="FILE", help="labelled rows to start from (e.g. an export)"
    )
    label.add_argument(
        "--db",
        metavar="URL",
        help="the session's database: a SQLite file or postgresql://user@host/db "
        "(default: session.db in the session folder)",
    )
    label.add_argument(
        "--session-dir", metavar="DIR", help="the session folder (default: DATA-stem-label/)"
    )
    label.add_argument(
        "--resume", metavar="DB", help="continue a session: its folder, SQLite file or URL"
    )
    label.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)"
    )
    label.add_argument(
        "--port", type=int, default=8000, help="port (default: 8000; 0: any free one)"
    )
    label.add_argument(
        "--token", help="access token (default: generated when --host is not the loopback address)"
    )
    model = label.add_argument_group("model and query (the names 'skanchor list' shows)")
    model.add_argument(
        "--filter",
        default=DEFAULTS["filter"],
        help="pool filter or preset (default: %(default)s, the recommended preset)",
    )
    model.add_argument(
        "--strategy",
        help="query strategy of a filter without its own (a preset such as the default "
        f"brings its strategy; otherwise default: {DEFAULTS['strategy']})",
    )
    model.add_argument(
        "--classifier",
        help=f"classifier (default: {DEFAULTS['classifier']}; transformer when a GPU is present)",
    )
    model.add_argument(
        "--embedder", default=DEFAULTS["embedder"], help="text embedder (default: %(default)s)"
    )
    model.add_argument(
        "--retrain-every",
        type=int,
        default=DEFAULTS["retrain_every"],
        metavar="N",
        help="retrain after every N labels (default: %(default)s)",
    )
    model.add_argument(
        "--queue-size",
        type=int,
        default=DEFAULTS["queue_size"],
        help="items kept ready (default: %(default)s)",
    )
    model.add_argument(
        "--double-annotation",
        action="store_true",
        help="have every item labelled by two annotators (agreement shown)",
    )
    model.add_argument(
        "--lease-seconds",
        type=int,
        default=DEFAULTS["lease_seconds"],
        help="how long a shown item stays reserved for its annotator (default: %(default)s)",
    )
    model.add_argument(
        "--stop",
        default=DEFAULTS["stop"],
        help="stopping criterion: stabilizing, kappa-average, delta-f (default: %(default)s)",
    )
    model.add_argument(
        "--seed", type=int, default=DEFAULTS["seed"], help="random seed (default: 0)"
    )
    model.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_params,
        default=[],
        metavar="PART.PARAM=VALUE",
        help="any other parameter, e.g. filter.n_anchors=20, classifier.C=1, stop.threshold=0.98",
    )
    label.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    label.set_defaults(handler=label_command)

    export = subparsers.add_parser(
        "export",
        formatter_class=formatter,
        help="write a labelling session's labels to a file",
        description="Write every label of a session (text id, text, label, annotator, time, "
        "note) to a CSV, parquet or JSON-lines file. The file works as --seed-labels of a new "
        "session and as a dataset of 'skanchor run --dataset FILE --minority CLASS --rate natural "
        "--budget N'.",
    )
    export.add_argument("db", metavar="DB", help="the session: its folder, SQLite file or URL")
    export.add_argument(
        "--format",
        choices=["csv", "parquet", "jsonl"],
        default="csv",
        help="file format (default: csv)",
    )
    export.add_argument("--out", "-o", help="output file (default: labels.FORMAT)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.set_defaults(handler=export_command)


def _config_params(args: argparse.Namespace) -> dict:
    tables: dict[str, dict] = {
        "filter": {},
        "strategy": {},
        "classifier": {},
        "embedder": {},
        "stop": {},
    }
    for owner, param, value in args.settings:
        if owner not in tables:
            raise ValueError(f"--set {owner}.{param}: the part must be one of {', '.join(tables)}")
        tables[owner][param] = value
    config: dict[str, Any] = {
        "minority": None
        if args.minority is None
        else [m.strip() for part in args.minority for m in part.split(",") if m.strip()],
        "filter": args.filter,
        "strategy": args.strategy,
        "classifier": args.classifier,
        "embedder": args.embedder,
        "retrain_every": args.retrain_every,
        "queue_size": args.queue_size,
        "lease_seconds": args.lease_seconds,
        "annotations_per_item": 2 if args.double_annotation else 1,
        "stop": args.stop,
        "seed": args.seed,
        "filter_params": tables["filter"],
        "strategy_params": tables["strategy"],
        "classifier_params": tables["classifier"],
    }
    if tables["embedder"]:
        config["embedder_params"] = tables["embedder"]
    if tables["stop"]:
        config["stop_params"] = tables["stop"]
    return config


def _database_errors(func: Any) -> Any:
    """Database errors (a server that cannot be reached, a refused login) as one line."""
    import functools

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            from sqlalchemy.exc import SQLAlchemyError
        except ImportError:
            raise ImportError(
                "skanchor label needs the web and database libraries: pip install 'skanchor[label]'"
            ) from None
        try:
            return func(args)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise ValueError(
                f"database error: {detail[0] if detail else type(exc).__name__}"
            ) from None

    return wrapper


@_database_errors
def label_command(args: argparse.Namespace) -> int:
    """``skanchor label``: create (or resume) a session and serve it."""
    from skanchor.label.app import check_serving, serve
    from skanchor.label.session import create_session, open_session

    def log(message: str) -> None:
        if not args.quiet:
            print(f"skanchor label: {message}", file=sys.stderr, flush=True)

    check_serving(args.host, args.port, args.token)  # before anything is embedded or written

    if args.resume:
        if args.labels is not None:
            raise ValueError("--labels: a resumed session keeps its labels; leave --labels out")
        session = open_session(
            args.resume,
            data=args.data,
            session_dir=args.session_dir,
            text_column=args.text_column if args.data else None,
            id_column=args.id_column,
            progress=not args.quiet,
        )
        log(f"resumed {session.store.where}: {session.store.progress()['n_labelled']} labelled")
    else:
        if args.data is None:
            raise ValueError("DATA: give the file of texts to label (or --resume DB)")
        if args.labels is None:
            raise ValueError("--labels: give the labels, comma-separated (e.g. --labels a,b,c)")
        session = create_session(
            args.data,
            args.labels,
            db=args.db,
            session_dir=args.session_dir,
            text_column=args.text_column,
            id_column=args.id_column,
            seed_labels=args.seed_labels,
            progress=not args.quiet,
            log=log,
            **_config_params(args),
        )
        log(f"session in {session.store.where} ({session.session_dir})")
    serve(session, host=args.host, port=args.port, token=args.token)
    return 0


@_database_errors
def export_command(args: argparse.Namespace) -> int:
    """``skanchor export``: write a session's labels to a file."""
    from skanchor.label.session import export_labels

    out = Path(args.out) if args.out else Path(f"labels.{args.format}")
    path, n = export_labels(args.db, out, args.format, overwrite=args.overwrite)
    print(f"skanchor export: {n} labels written to {path}", file=sys.stderr)
    return 0
