"""Read JSONL, JSON, CSV and Parquet files into row dicts, with file:line errors.

Every reader yields ``(line_number, row)`` so that later validation can name the line.
For CSV the line number counts the header as line 1; for Parquet it is the row number + 1.
"""

from __future__ import annotations

import csv
import json
import math
import re
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
    return decode_utf8(raw, path=path)


def decode_utf8(raw: bytes, *, path: str | Path) -> str:
    """Decode a file's bytes; a bad byte is an InputError naming its line.

    ``utf-8-sig`` accepts a leading BOM, which spreadsheet exports often add.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", path=str(path), line=line
        ) from None


class _NonFiniteNumber(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _reject_constant(constant: str) -> Any:
    raise _NonFiniteNumber(constant)


def _constant_message(constant: str, text: str) -> str:
    key = re.search(rf'"([^"\\]+)"\s*:\s*-?{constant}', text)
    where = f" in {key.group(1)!r}" if key else ""
    return (
        f"{constant}{where} is not valid JSON; numbers (weights, scores, preferences) must "
        "be finite, and a missing value is null"
    )


def parse_json(text: str, *, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` that names the file and line, and refuses NaN and Infinity.

    Python's json module accepts ``NaN`` as an extension; a NaN weight or score would then
    pass as "absent" (pandas reads both as NaN) and silently count as a default value.

    Args:
        text: one JSONL line (give its ``line``) or a whole document.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        at = line if line is not None else exc.lineno
        raise InputError(
            f"malformed JSON: {exc.msg} (column {exc.colno})", path=str(path), line=at
        ) from None
    except RecursionError:
        # json's C scanner recurses once per nesting level; a hostile or broken file with
        # thousands of nested brackets must not end in a traceback.
        raise InputError(
            "malformed JSON: nested too deeply (arrays or objects inside each other more than "
            "Python can read); no judgekit input needs more than a few levels",
            path=str(path),
            line=line,
        ) from None
    except _NonFiniteNumber as exc:
        at = line
        if at is None:
            found = re.search(rf"(?<![\w\"])-?{exc.constant}(?![\w\"])", text)
            at = text[: found.start()].count("\n") + 1 if found else None
        context = text if line is not None else text.splitlines()[at - 1] if at else ""
        raise InputError(
            _constant_message(exc.constant, context), path=str(path), line=at
        ) from None


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, Row]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = parse_json(line, path=path, line=lineno)
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", path=str(path), line=lineno)
        yield lineno, row


def _json_rows(path: Path, text: str) -> Iterator[tuple[int, Row]]:
    data = parse_json(text, path=path)
    if isinstance(data, dict):
        # A dict of columns (pandas "columns" orient) is a common export shape.
        if data and all(isinstance(v, list) for v in data.values()):
            keys = list(data)
            lengths = {len(data[k]) for k in keys}
            if len(lengths) != 1:
                sizes = ", ".join(f"{k!r}: {len(data[k])}" for k in keys)
                raise InputError(f"columns have different lengths ({sizes})", path=str(path))
            n = lengths.pop()
            data = [{k: data[k][i] for k in keys} for i in range(n)]
        else:
            data = [data]
    if not isinstance(data, list):
        raise InputError("expected a JSON array of objects", path=str(path))
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise InputError(
                f"element {index + 1} of the array is a {type(row).__name__}, not an object",
                path=str(path),
                line=index + 1,
            )
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


def check_no_nul(row: Row, *, path: str | Path, line: int | None) -> None:
    """Refuse text holding a NUL character (``\\x00``), in any column, nested values included.

    A NUL is never part of an answer: it comes from a binary file or a broken export, and
    judges' tokenizers, terminals and the store treat it inconsistently (some cut the text
    there), so the text judged would differ from the text shown.
    """
    for key, value in row.items():
        column = str(key)
        if "\x00" in column or _has_nul(value):
            shown = column.replace("\x00", "\\x00")
            raise InputError(
                f"column {shown!r} contains a NUL character (\\x00); "
                "remove it from the file (it usually means a binary or broken export)",
                path=str(path),
                line=line,
            )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def read_rows(path: str | Path) -> Iterator[tuple[int, Row]]:
    """Yield ``(line, row)`` from a JSONL, JSON, CSV or Parquet file, chosen by suffix.

    Rows holding a NUL character anywhere are refused (:func:`check_no_nul`).
    """
    for line, row in _read_rows(path):
        check_no_nul(row, path=path, line=line)
        yield line, row


def _read_rows(path: str | Path) -> Iterator[tuple[int, Row]]:
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
