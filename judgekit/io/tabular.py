"""Read JSONL, JSON, CSV and Parquet files into row dicts, with file:line errors.

Every reader yields ``(line_number, row)`` so that later validation can name the line.
For CSV the line number counts the header as line 1; for Parquet it is the row number + 1.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judgekit.errors import InputError

Row = dict[str, Any]


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path=str(path)) from None
    try:
        # utf-8-sig accepts a leading BOM, which spreadsheet exports often add.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte {exc.start})", path=str(path), line=line) from None


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, Row]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg}", path=str(path), line=lineno) from None
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", path=str(path), line=lineno)
        yield lineno, row


def _json_rows(path: Path, text: str) -> Iterator[tuple[int, Row]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    if isinstance(data, dict):
        # A dict of columns (pandas "columns" orient) is a common export shape.
        if data and all(isinstance(v, list) for v in data.values()):
            keys = list(data)
            lengths = {len(data[k]) for k in keys}
            if len(lengths) != 1:
                raise InputError("columns have different lengths", path=str(path))
            n = lengths.pop()
            data = [{k: data[k][i] for k in keys} for i in range(n)]
        else:
            data = [data]
    if not isinstance(data, list):
        raise InputError("expected a JSON array of objects", path=str(path))
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise InputError(f"element {index} is not an object", path=str(path))
        # JSON arrays have no line per row; report the element index as a pseudo-line.
        yield index + 1, row


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, Row]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        return
    for row in reader:
        if None in row:
            raise InputError(
                "more fields than the header has", path=str(path), line=reader.line_num
            )
        yield reader.line_num, dict(row)


def _parquet_rows(path: Path) -> Iterator[tuple[int, Row]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise InputError(f"cannot read Parquet: {exc}", path=str(path)) from None
    for index, row in enumerate(table.to_pylist()):
        yield index + 1, row


def read_rows(path: str | Path) -> Iterator[tuple[int, Row]]:
    """Yield ``(line, row)`` from a JSONL, JSON, CSV or Parquet file, chosen by suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(p)
        return
    if suffix not in {".jsonl", ".json", ".csv", ".ndjson"}:
        raise InputError(
            f"unsupported file type {suffix or '(none)'}; use .jsonl, .json, .csv or .parquet",
            path=str(p),
        )
    text = _read_text(p)
    if suffix == ".csv":
        yield from _csv_rows(p, text)
    elif suffix == ".json":
        yield from _json_rows(p, text)
    else:
        yield from _jsonl_rows(p, text)


def is_missing(value: Any) -> bool:
    """True for None, NaN and blank strings: the values a column can hold for 'absent'."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()
