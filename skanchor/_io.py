"""File writes that readers never see half done: the one atomic-write helper of the package."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write"]


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
