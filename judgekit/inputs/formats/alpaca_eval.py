"""AlpacaEval files: model outputs, annotations and the leaderboard CSV.

- ``model_outputs.json``: a JSON array of ``{"instruction", "output", "generator",
  "dataset"}`` (an ``input`` field, when present, is kept out of the prompt id, as
  AlpacaEval keys examples by instruction).
- ``annotations.json``: a JSON array of ``{"instruction", "output_1", "generator_1",
  "output_2", "generator_2", "annotator", "preference"}``, often with ``raw_completion``,
  ``time_per_example`` and ``price_per_example``. ``generator_1`` is the baseline.
  ``preference`` is 1 when output_1 wins, 2 when output_2 wins, 1.5 (or 0) for a draw, and
  in between for weighted annotators: ``preference − 1 = P(output_2 is better)``.
- the leaderboard CSV: the model name in an unnamed first column, then ``win_rate``,
  ``standard_error``, ``n_wins``, ``n_wins_base``, ``n_draws``, ``n_total``,
  ``discrete_win_rate``, ``mode``, ``avg_length``, ``length_controlled_winrate`` and
  ``lc_standard_error`` (rates in percent).

Prompt ids are :func:`judgekit.inputs.outputs.prompt_id_for` of the instruction, the id that
``judgekit compare`` gives AlpacaEval files, so annotations line up with runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.formats import (
    claim,
    field,
    outputs_frame,
    records,
    string,
    write_json,
)
from judgekit.inputs.outputs import prompt_id_for
from judgekit.rank.peers import alpaca_eval as peer

LEADERBOARD_COLUMNS = [
    "win_rate",
    "standard_error",
    "n_wins",
    "n_wins_base",
    "n_draws",
    "n_total",
    "discrete_win_rate",
    "mode",
    "avg_length",
    "length_controlled_winrate",
    "lc_standard_error",
]


def read_alpaca_eval_outputs(path: str | Path) -> pd.DataFrame:
    """``model_outputs.json`` as an outputs frame; ``dataset`` becomes the category.

    The model is ``generator``, or the file's stem when a row has none.
    """
    p = Path(path)
    rows = []
    seen: dict[tuple[str, str], str] = {}
    for line, row in records(p):
        instruction = string(row, "instruction", path=p, line=line)
        model = str(row.get("generator") or p.stem)
        claim(seen, prompt_id_for(instruction), model, path=p, line=line)
        rows.append(
            {
                "prompt_id": prompt_id_for(instruction),
                "prompt": instruction,
                "model": model,
                "output": string(row, "output", path=p, line=line),
                "reference": None,
                "category": row.get("dataset"),
            }
        )
    return outputs_frame(rows)


def write_alpaca_eval_outputs(outputs: pd.DataFrame, path: str | Path) -> Path:
    """``model_outputs.json`` (every model of the frame in one array, as AlpacaEval accepts)."""
    rows = [
        {
            "instruction": r["prompt"],
            "output": r["output"],
            "generator": r["model"],
            "dataset": r.get("category") if isinstance(r.get("category"), str) else "judgekit",
        }
        for r in outputs.to_dict("records")
    ]
    return write_json(rows, path)


def _preference(value: object, *, path: Path, line: int) -> tuple[float, float, float, str]:
    """(win_a, win_b, tie, status) of an AlpacaEval preference."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0, 0.0, 0.0, "parse_error"
    try:
        pref = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            f"preference {value!r} is not a number", path=str(path), line=line
        ) from None
    # 0 and exactly 1.5 are AlpacaEval's draws; both read as a tie so that a draw written
    # back as 1.5 reads the same again.
    if pref == 0 or pref == 1.5:
        return 0.0, 0.0, 1.0, "ok"
    if not 1.0 <= pref <= 2.0:
        raise InputError(
            f"preference {pref} is outside 1-2 (1: output_1 wins, 2: output_2 wins)",
            path=str(path),
            line=line,
        )
    return 2.0 - pref, pref - 1.0, 0.0, "ok"


def read_alpaca_eval_annotations(path: str | Path) -> pd.DataFrame:
    """``annotations.json`` as an outcomes frame: model_a is ``generator_1`` (the baseline).

    Extra columns: ``judge`` (the annotator), ``instruction``, ``output_1``, ``output_2``,
    ``raw`` (the annotator's completion as text), ``latency_s`` and ``cost`` per example.
    A missing preference (a failed annotation) has status ``parse_error``.
    """
    p = Path(path)
    rows = []
    for line, row in records(p):
        instruction = string(row, "instruction", path=p, line=line)
        model_a = string(row, "generator_1", path=p, line=line)
        model_b = string(row, "generator_2", path=p, line=line)
        if model_a == model_b:
            raise InputError(f"a model cannot face itself ({model_a!r})", path=str(p), line=line)
        if "preference" not in row:
            field(row, "preference", path=p, line=line)
        win_a, win_b, tie, status = _preference(row.get("preference"), path=p, line=line)
        raw = row.get("raw_completion")
        rows.append(
            {
                "prompt_id": prompt_id_for(instruction),
                "model_a": model_a,
                "model_b": model_b,
                "win_a": win_a,
                "win_b": win_b,
                "tie": tie,
                "flipped": False,
                "status": status,
                "weight": 1.0,
                "judge": str(row.get("annotator") or ""),
                "instruction": instruction,
                "output_1": string(row, "output_1", path=p, line=line),
                "output_2": string(row, "output_2", path=p, line=line),
                "raw": raw if isinstance(raw, str) or raw is None else json.dumps(raw),
                "latency_s": row.get("time_per_example"),
                "cost": row.get("price_per_example"),
            }
        )
    return pd.DataFrame(rows)


def _texts(
    comparisons: pd.DataFrame, outputs: pd.DataFrame | None
) -> tuple[list[str], list[str], list[str]]:
    """Instruction and both outputs of each comparison, from its columns or ``outputs``."""
    if {"instruction", "output_1", "output_2"} <= set(comparisons.columns):
        return (
            comparisons["instruction"].astype(str).tolist(),
            comparisons["output_1"].astype(str).tolist(),
            comparisons["output_2"].astype(str).tolist(),
        )
    if outputs is None:
        raise InputError("AlpacaEval annotations need the texts: pass the outputs frame")
    texts = {(str(r["prompt_id"]), str(r["model"])): r for r in outputs.to_dict("records")}
    instructions, out_1, out_2 = [], [], []
    for pid, a, b in zip(
        comparisons["prompt_id"], comparisons["model_a"], comparisons["model_b"], strict=True
    ):
        ra, rb = texts.get((str(pid), str(a))), texts.get((str(pid), str(b)))
        if ra is None or rb is None:
            raise InputError(f"no output of {a if ra is None else b!r} for prompt {pid!r}")
        instructions.append(str(ra["prompt"]))
        out_1.append(str(ra["output"]))
        out_2.append(str(rb["output"]))
    return instructions, out_1, out_2


def orient(comparisons: pd.DataFrame, *, baseline: str) -> pd.DataFrame:
    """Comparisons with ``baseline`` as model_a (AlpacaEval's generator_1), others dropped."""
    keep = (comparisons["model_a"] == baseline) | (comparisons["model_b"] == baseline)
    frame = comparisons[keep].copy()
    swap = (frame["model_b"] == baseline).to_numpy()
    pairs = [("model_a", "model_b"), ("win_a", "win_b"), ("output_1", "output_2")]
    for left, right in pairs:
        if left in frame and right in frame:
            lv, rv = frame[left].to_numpy().copy(), frame[right].to_numpy().copy()
            frame[left] = np.where(swap, rv, lv)
            frame[right] = np.where(swap, lv, rv)
    return frame.reset_index(drop=True)


def write_alpaca_eval_annotations(
    comparisons: pd.DataFrame,
    path: str | Path,
    *,
    outputs: pd.DataFrame | None = None,
    baseline: str | None = None,
    annotator: str = "judgekit",
) -> Path:
    """``annotations.json`` from an outcomes frame.

    ``preference = 1 + win_b + tie/2``: the expected score of output_2, so a tie writes
    1.5 and probabilities write a weighted preference. A failed comparison writes null.

    Args:
        outputs: an outputs frame for the texts, unless the comparisons carry
            ``instruction``, ``output_1`` and ``output_2``.
        baseline: the model to put first (generator_1); comparisons without it are left out.
        annotator: the annotator name, unless the comparisons have a ``judge`` column.
    """
    frame = orient(comparisons, baseline=baseline) if baseline else comparisons
    instructions, out_1, out_2 = _texts(frame, outputs)
    rows = []
    for k, r in enumerate(frame.to_dict("records")):
        ok = r.get("status", "ok") == "ok"
        rows.append(
            {
                "instruction": instructions[k],
                "output_1": out_1[k],
                "generator_1": r["model_a"],
                "output_2": out_2[k],
                "generator_2": r["model_b"],
                "annotator": r.get("judge") or annotator,
                "preference": 1.0 + float(r["win_b"]) + 0.5 * float(r["tie"]) if ok else None,
            }
        )
    return write_json(rows, path)


def alpaca_eval_leaderboard(
    comparisons: pd.DataFrame,
    *,
    baseline: str,
    outputs: pd.DataFrame | None = None,
    mode: str = "community",
    difficulty: pd.Series | None = None,
) -> pd.DataFrame:
    """AlpacaEval's leaderboard columns from comparisons against one baseline.

    Each comparison becomes an AlpacaEval preference, ``1 + win_b + tie/2`` with the
    baseline as output_1, and :func:`judgekit.rank.peers.alpaca_eval.alpaca_eval_leaderboard`
    computes the columns as AlpacaEval does, the length-controlled win rate included.
    The baseline gets the row AlpacaEval gives it: 50 % with every example a draw.
    """
    ok = comparisons[comparisons["status"] == "ok"] if "status" in comparisons else comparisons
    frame = orient(ok, baseline=baseline)
    if frame.empty:
        raise InputError(f"no usable comparisons against the baseline {baseline!r}")
    instructions, out_1, out_2 = _texts(frame, outputs)
    first_seen = {pid: k for k, pid in reversed(list(enumerate(frame["prompt_id"])))}
    annotations = pd.DataFrame(
        {
            "model": frame["model_b"].astype(str),
            "baseline": baseline,
            "instruction": instructions,
            "position": frame["prompt_id"].map(first_seen).astype(int),
            "preference": 1.0 + frame["win_b"].astype(float) + 0.5 * frame["tie"].astype(float),
            "len_1": [len(t) for t in out_1],
            "len_2": [len(t) for t in out_2],
        }
    )
    board = peer.alpaca_eval_leaderboard(annotations, difficulty=difficulty)
    n_base = int(frame["prompt_id"].nunique())
    base_len = annotations.drop_duplicates("position")["len_1"].to_numpy(dtype=float)
    base_row = {
        "model": baseline,
        **peer.head_to_head(np.full(n_base, 1.5)),
        "avg_length": int(base_len.mean()),
        "length_controlled_winrate": 50.0,
        "lc_standard_error": 0.0,
    }
    board = pd.concat([board, pd.DataFrame([base_row])], ignore_index=True)
    board["mode"] = mode
    board = board.sort_values("length_controlled_winrate", ascending=False, kind="stable")
    return board[["model", *LEADERBOARD_COLUMNS]].reset_index(drop=True)


def read_alpaca_eval_preferences(path: str | Path) -> pd.DataFrame:
    """``annotations.json`` as the long frame that AlpacaEval's metrics read.

    Columns: ``model`` (generator_2), ``baseline`` (generator_1), ``instruction``,
    ``position`` (the row's place in the file), ``preference`` (raw, NaN when the
    annotator failed), ``len_1`` and ``len_2`` (characters of output_1 and output_2).

    Raises:
        InputError: a missing field, or a preference that is neither null, 0 nor in 1-2.
    """
    p = Path(path)
    rows = []
    for position, (line, row) in enumerate(records(p)):
        instruction = string(row, "instruction", path=p, line=line)
        if "preference" not in row:
            field(row, "preference", path=p, line=line)
        value = row.get("preference")
        try:
            pref = math.nan if value is None else float(value)
        except (TypeError, ValueError):
            raise InputError(
                f"preference {value!r} is not a number", path=str(p), line=line
            ) from None
        if not (math.isnan(pref) or pref == 0 or 1.0 <= pref <= 2.0):
            raise InputError(
                f"preference {pref} is outside 1-2 (1: output_1 wins, 2: output_2 wins)",
                path=str(p),
                line=line,
            )
        rows.append(
            (
                string(row, "generator_2", path=p, line=line),
                string(row, "generator_1", path=p, line=line),
                instruction,
                position,
                pref,
                len(string(row, "output_1", path=p, line=line)),
                len(string(row, "output_2", path=p, line=line)),
            )
        )
    return pd.DataFrame(rows, columns=peer.ANNOTATION_COLUMNS)


def read_instruction_difficulty(path: str | Path) -> pd.Series:
    """AlpacaEval's ``instruction_difficulty.csv``: a row number, then the difficulty.

    Row numbers are positions in the annotations files (AlpacaEval's ``index``).
    """
    p = Path(path)
    out: dict[int, float] = {}
    for line, row in records(p):
        values = list(row.values())
        try:
            out[int(float(str(values[0])))] = float(str(values[-1]))
        except (TypeError, ValueError, IndexError):
            raise InputError(
                "expected a row number and a difficulty", path=str(p), line=line
            ) from None
    return pd.Series(out, name="difficulty", dtype=float)


def write_alpaca_eval_leaderboard(board: pd.DataFrame, path: str | Path) -> Path:
    """The leaderboard CSV, with the model names as its unnamed index column."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    board.set_index("model").rename_axis(None)[LEADERBOARD_COLUMNS].to_csv(p)
    return p


def read_alpaca_eval_leaderboard(path: str | Path) -> pd.DataFrame:
    """The leaderboard CSV as a frame with a ``model`` column and AlpacaEval's columns.

    Raises:
        InputError: not a CSV, no ``win_rate`` column, or a non-numeric rate (with its line).
    """
    p = Path(path)
    rows = records(p)
    first = rows[0][1]
    name_key = next(iter(first))
    if "win_rate" not in first:
        raise InputError(
            f"not an AlpacaEval leaderboard: no 'win_rate' column (found {', '.join(first)})",
            path=str(p),
        )
    out = []
    for line, row in rows:
        record: dict[str, object] = {"model": str(row[name_key])}
        for column in LEADERBOARD_COLUMNS:
            value = row.get(column)
            if column == "mode":
                record[column] = value or None
                continue
            try:
                record[column] = float(value) if value not in (None, "") else float("nan")
            except (TypeError, ValueError):
                raise InputError(
                    f"{column} {value!r} is not a number", path=str(p), line=line
                ) from None
        out.append(record)
    frame = pd.DataFrame(out, columns=["model", *LEADERBOARD_COLUMNS])
    for column in ("n_wins", "n_wins_base", "n_draws", "n_total", "avg_length"):
        if frame[column].notna().all():
            frame[column] = frame[column].astype(int)
    return frame


__all__ = [
    "LEADERBOARD_COLUMNS",
    "alpaca_eval_leaderboard",
    "orient",
    "read_alpaca_eval_annotations",
    "read_alpaca_eval_leaderboard",
    "read_alpaca_eval_outputs",
    "read_alpaca_eval_preferences",
    "read_instruction_difficulty",
    "write_alpaca_eval_annotations",
    "write_alpaca_eval_leaderboard",
    "write_alpaca_eval_outputs",
]
