"""Files in and out of a labelling session: the texts to label, seed labels, the export.

Tables are CSV, TSV, parquet or JSON(L) files (by suffix). Every problem is one
``ValueError`` naming the file and, where it applies, the column or row.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skanchor._io import cell_text, read_table

__all__ = [
    "EXPORT_FORMATS",
    "Corpus",
    "read_corpus",
    "read_seed_labels",
    "read_table",
    "write_table",
]

#: Formats ``skanchor export`` writes.
EXPORT_FORMATS = ("csv", "parquet", "jsonl")


@dataclass
class Corpus:
    """The texts of a session: item ``i`` is ``texts[i]`` (``source_ids[i]`` in the file)."""

    texts: list[str]
    source_ids: list[str]
    path: str
    text_column: str
    n_skipped: int = 0

    @property
    def fingerprint(self) -> str:
        """sha256 over the texts and their ids, in order: what identifies the session's data."""
        digest = hashlib.sha256()
        for source_id, text in zip(self.source_ids, self.texts, strict=True):
            for part in (source_id, text):
                data = part.encode("utf-8")
                digest.update(len(data).to_bytes(8, "little"))
                digest.update(data)
        return digest.hexdigest()


def _column(frame: Any, name: str, path: Path, option: str, what: str) -> Any:
    if name not in frame.columns:
        raise ValueError(
            f"{what} {path.name!r} has no column {name!r} ({option}); its columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    return frame[name]


def read_corpus(
    path: str | os.PathLike, *, text_column: str = "text", id_column: str | None = None
) -> Corpus:
    """The texts to label from ``path``; rows with a missing or blank text are left out.

    Item ids are the positions of the kept rows (0, 1, ...); ``source_ids`` are the
    ``id_column`` values (unique) or the row numbers of the file.
    """
    path = Path(path)
    frame = read_table(path)
    texts_col = _column(frame, text_column, path, "--text-column", "data file")
    if id_column is not None:
        ids_col = _column(frame, id_column, path, "--id-column", "data file").astype(str)
        dup = ids_col[ids_col.duplicated()]
        if len(dup):
            raise ValueError(
                f"data file {path.name!r}: column {id_column!r} (--id-column) repeats the id "
                f"{dup.iloc[0]!r}"
            )
        source_ids = ids_col.tolist()
    else:
        source_ids = [str(i) for i in range(len(frame))]
    texts: list[str] = []
    kept_ids: list[str] = []
    for source_id, value in zip(source_ids, texts_col.tolist(), strict=True):
        text = cell_text(value)
        if text is not None:
            texts.append(text)
            kept_ids.append(source_id)
    if not texts:
        raise ValueError(
            f"data file {path.name!r}: column {text_column!r} holds no text (every row is blank)"
        )
    return Corpus(texts, kept_ids, str(path.resolve()), text_column, len(source_ids) - len(texts))


def read_seed_labels(
    path: str | os.PathLike,
    corpus: Corpus,
    labels: list[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
) -> tuple[np.ndarray, list[str]]:
    """Item ids and labels from a seed-label file (e.g. a ``skanchor export`` file).

    Rows are matched to items by their text: the file's ``text_column``, else its ``text``
    column (what ``skanchor export`` writes, whatever the data file calls it); only a
    file with neither is matched by its ``id`` column (the data file's ids or row numbers).
    Every row must match an item and carry one of ``labels``. A text that the data file
    holds several times is several items: its rows label them in order; rows beyond its
    copies repeat a label already given and are left out (an item keeps its first label).
    """
    path = Path(path)
    frame = read_table(path, what="seed-label file")
    label_col = _column(frame, label_column, path, "label column", "seed-label file")
    by_text = next((c for c in dict.fromkeys((text_column, "text")) if c in frame.columns), None)
    if by_text is not None:
        key_col, lookup = frame[by_text], corpus.texts
        how = f"text (column {by_text!r})"
    elif "id" in frame.columns:
        key_col, lookup = frame["id"].astype(str), corpus.source_ids
        how = "id (column 'id')"
    else:
        raise ValueError(
            f"seed-label file {path.name!r} has neither a {text_column!r} nor an 'id' column to "
            f"match items by; its columns: {', '.join(map(str, frame.columns))}"
        )
    copies: dict[str, list[int]] = {}
    for i, key in enumerate(lookup):
        copies.setdefault(key, []).append(i)
    used = dict.fromkeys(copies, 0)  # copies of each key labelled so far
    known = set(labels)
    ids: list[int] = []
    values: list[str] = []
    for row, (key, label) in enumerate(zip(key_col.tolist(), label_col.tolist(), strict=True)):
        label_text = cell_text(label)
        if label_text is None or label_text.strip() not in known:
            raise ValueError(
                f"seed-label file {path.name!r} row {row}: label {label!r} is not one of "
                f"{', '.join(labels)}"
            )
        key = key if isinstance(key, str) else str(key)
        if key not in copies:
            raise ValueError(
                f"seed-label file {path.name!r} row {row}: no item of the data file has this {how}"
            )
        if used[key] < len(copies[key]):
            ids.append(copies[key][used[key]])
            values.append(label_text.strip())
            used[key] += 1
    return np.asarray(ids, dtype=np.int64), values


def write_table(rows: list[dict], path: str | os.PathLike, fmt: str) -> Path:
    """Write ``rows`` (dicts with the same keys) to ``path`` as csv, parquet or jsonl,
    atomically (readers never see half a file)."""
    import pandas as pd

    from skanchor._io import atomic_path

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    columns = list(rows[0]) if rows else ["id", "text", "label", "annotator", "time"]
    frame = pd.DataFrame(rows, columns=columns)
    path = Path(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path
