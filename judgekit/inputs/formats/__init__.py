"""Importers and exporters for the peer formats of LLM-judge evaluation.

Every importer returns a plain DataFrame in one of judgekit's shapes, and every exporter
writes the peer format from one:

- **outputs**: ``prompt_id``, ``prompt``, ``model``, ``output`` (optional ``reference``,
  ``category``), which ``judgekit compare`` reads;
- **verdicts**: one row per comparison and position order, in *model* terms: ``prompt_id``,
  ``model_a``, ``model_b``, ``position_order`` (``ab`` showed model_a first), ``winner``
  (``model_a``, ``model_b``, ``tie`` or ``error``), ``judge``, ``raw``;
  :func:`judgekit.protocols.debias.verdicts_to_outcomes` combines the two orders with the
  spine's debiasing;
- **outcomes** (comparisons): ``prompt_id``, ``model_a``, ``model_b``, ``win_a``, ``win_b``,
  ``tie``, ``flipped``, ``status`` and ``weight``, as the store keeps them; they feed
  :func:`judgekit.rank.outcomes.build_leaderboard` and ``judgekit rank``;
- **human labels**: see :mod:`judgekit.inputs.human`.

Modules: :mod:`.mtbench` (FastChat MT-Bench), :mod:`.arena_hard`, :mod:`.alpaca_eval`,
:mod:`.chatbot_arena` (battles and arena-rank's frame) and :mod:`.export` (store runs to
CSV, Parquet, JSONL and the battles format, and imported judgments into the store).
Malformed files raise :class:`~judgekit.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.tabular import Row, read_rows

OUTPUT_COLUMNS = ["prompt_id", "prompt", "model", "output", "reference", "category"]
VERDICT_COLUMNS = ["prompt_id", "model_a", "model_b", "position_order", "winner", "judge", "raw"]
OUTCOME_COLUMNS = [
    "prompt_id",
    "model_a",
    "model_b",
    "win_a",
    "win_b",
    "tie",
    "flipped",
    "status",
    "weight",
]
VERDICT_WINNERS = ("model_a", "model_b", "tie", "error")


def records(path: str | Path) -> list[tuple[int, Row]]:
    """All ``(line, row)`` pairs of a JSONL/JSON/CSV/Parquet file; an empty file is an error."""
    rows = list(read_rows(path))
    if not rows:
        raise InputError("no records in the file", path=str(path))
    return rows


def field(row: Row, key: str | Sequence[str], *, path: str | Path, line: int) -> Any:
    """The value of the first of ``key`` present in ``row``, or an InputError naming it."""
    keys = [key] if isinstance(key, str) else list(key)
    for k in keys:
        if k in row and not (row[k] is None or (isinstance(row[k], float) and np.isnan(row[k]))):
            return row[k]
    raise InputError(
        f"missing field {' or '.join(repr(k) for k in keys)}; "
        f"found: {', '.join(sorted(row)) or 'none'}",
        path=str(path),
        line=line,
    )


def text(value: Any, *, name: str, path: str | Path, line: int) -> str:
    """A string field; ids may be numbers (MT-Bench question ids are)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise InputError(
        f"field {name!r} must be a string, got {type(value).__name__}", path=str(path), line=line
    )


def string(row: Row, key: str | Sequence[str], *, path: str | Path, line: int) -> str:
    """A required string field (the first of ``key`` present), with file:line errors."""
    name = key if isinstance(key, str) else key[0]
    return text(field(row, key, path=path, line=line), name=name, path=path, line=line)


def outputs_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """An outputs frame with the standard columns, in a stable order."""
    frame = pd.DataFrame(list(rows), columns=OUTPUT_COLUMNS)
    return frame.sort_values(["prompt_id", "model"], kind="stable").reset_index(drop=True)


def claim(
    seen: dict[tuple[str, str], str], prompt_id: str, model: str, *, path: str | Path, line: int
) -> None:
    """Refuse a second answer of one model to one prompt: which to judge would be a guess."""
    where = f"{path}:{line}"
    first = seen.setdefault((prompt_id, model), where)
    if first != where:
        raise InputError(
            f"model {model!r} answers prompt {prompt_id!r} again (first at {first})",
            path=str(path),
            line=line,
        )


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write one JSON object per line (UTF-8, non-ASCII kept), creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return p


def write_json(payload: Any, path: str | Path) -> Path:
    """Write one JSON document, indented, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return p


def write_frame(frame: pd.DataFrame, path: str | Path, *, fmt: str | None = None) -> Path:
    """Write a frame as CSV, Parquet or JSONL, chosen by ``fmt`` or the file suffix."""
    p = Path(path)
    kind = (fmt or p.suffix.lstrip(".")).lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        frame.to_csv(p, index=False)
    elif kind == "parquet":
        frame.to_parquet(p, index=False)
    elif kind in ("jsonl", "ndjson"):
        records_ = json.loads(frame.to_json(orient="records", force_ascii=False))
        write_jsonl(records_, p)
    else:
        raise InputError(f"unsupported output type {kind or '(none)'}; use csv, parquet or jsonl")
    return p


def store_verdict_winners(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Stored per-order verdicts (p_first, p_second, p_tie) as a verdicts frame in model terms.

    The winner is the class with a strict majority of probability, else ``tie``; a verdict
    that failed is ``error``.
    """
    from judgekit.inputs.labels import outcome_labels

    a_first = (verdicts["position_order"] == "ab").to_numpy()
    win_a = np.where(a_first, verdicts["p_first"], verdicts["p_second"]).astype(float)
    win_b = np.where(a_first, verdicts["p_second"], verdicts["p_first"]).astype(float)
    labels = outcome_labels(win_a, win_b, verdicts["p_tie"].to_numpy(dtype=float))
    winner = pd.Series(labels).map({"a": "model_a", "b": "model_b", "tie": "tie"})
    winner[(verdicts["status"] != "ok").to_numpy()] = "error"
    raw = verdicts["raw"] if "raw" in verdicts else pd.Series([""] * len(verdicts))
    return pd.DataFrame(
        {
            "prompt_id": verdicts["prompt_id"].to_numpy(),
            "model_a": verdicts["model_a"].to_numpy(),
            "model_b": verdicts["model_b"].to_numpy(),
            "position_order": verdicts["position_order"].to_numpy(),
            "winner": winner.to_numpy(),
            "judge": verdicts["judge"].to_numpy() if "judge" in verdicts else None,
            "raw": raw.fillna("").to_numpy(),
        }
    )


def outcome_winner(frame: pd.DataFrame) -> pd.Series:
    """Battle labels (``model_a``, ``model_b``, ``tie``) of outcome rows."""
    from judgekit.inputs.labels import outcome_labels

    labels = outcome_labels(frame["win_a"], frame["win_b"], frame["tie"])
    return pd.Series(labels, index=frame.index).map({"a": "model_a", "b": "model_b", "tie": "tie"})


__all__ = [
    "OUTCOME_COLUMNS",
    "OUTPUT_COLUMNS",
    "VERDICT_COLUMNS",
    "claim",
    "field",
    "outcome_winner",
    "outputs_frame",
    "records",
    "store_verdict_winners",
    "string",
    "text",
    "write_frame",
    "write_json",
    "write_jsonl",
]
