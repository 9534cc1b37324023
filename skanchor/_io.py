"""Files in and out: tables read by suffix, and writes that readers never see half done."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TABLE_SUFFIXES",
    "atomic_path",
    "atomic_write",
    "cell_text",
    "is_missing",
    "read_table",
]

#: Suffixes :func:`read_table` reads.
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson")


def is_missing(value: Any) -> bool:
    """Whether a cell is missing: None, NaN, NaT or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pandas' NA: its comparisons are NA, which has no truth value
        return True


def cell_text(value: Any) -> str | None:
    """A table cell as text; ``None`` for a missing (:func:`is_missing`) or blank cell."""
    if is_missing(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _first_non_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is (line and file offset); UTF-8 sequences
    never span a newline byte, so lines decode on their own."""
    offset = 0
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {line_no:,}, byte {offset + exc.start:,} of the file: {exc.reason}"
            offset += len(line)
    return "a byte sequence that is not UTF-8"


def read_table(path: str | os.PathLike, *, what: str = "data file") -> Any:
    """A pandas DataFrame from a CSV/TSV/parquet/JSON(L) file; errors name the file.

    CSV and TSV cells are read as written, as strings: only an empty cell is missing (``""``),
    so a label or text such as ``None``, ``NA`` or ``null`` stays what it says. The file must
    be UTF-8 (with or without a byte-order mark).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"{what} {path.name!r}: cannot read {suffix or 'a file without suffix'}; use "
            f"{', '.join(TABLE_SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise ValueError(f"{what} {path.name!r} is empty")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".json":
            try:
                frame = pd.read_json(path, dtype=False)
            except ValueError:
                frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
    except UnicodeDecodeError:
        raise ValueError(
            f"{what} {path.name!r} is not UTF-8 ({_first_non_utf8(path)}): save it as UTF-8"
        ) from None
    except Exception as exc:  # pandas/pyarrow parse errors (pyarrow's are not ValueErrors)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{what} {path.name!r} cannot be read: {first}") from None
    if len(frame) == 0:
        raise ValueError(f"{what} {path.name!r} holds no rows")
    return frame


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block ends normally.

    For writers that want a file name rather than a file object (``np.save``, pyarrow, a
    library's own ``save``). The parent folder is created; the temporary file is removed if
    the block raises, and readers see either the old ``path`` or the whole new one
    (``os.replace`` in the same folder). ``mode`` is applied before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name ends in the target's suffix, so writers that append a missing one
    # (np.save adds ".npy") write to it unchanged.
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[Any]], Any], *, text: bool = False
) -> None:
    """Write ``path`` by calling ``write(file)``; readers see the old or the complete new file.

    The data is flushed and fsynced before the rename, so a crash right after leaves the whole
    file. ``text=True`` opens the file in text mode (UTF-8).
    """
    with atomic_path(path) as tmp:
        mode, encoding = ("w", "utf-8") if text else ("wb", None)
        with open(tmp, mode, encoding=encoding) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
