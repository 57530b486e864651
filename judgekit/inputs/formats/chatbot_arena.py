"""Chatbot Arena battles and arena-rank's pandas frame.

A battle row has ``model_a``, ``model_b`` and ``winner`` (``model_a``, ``model_b``, ``tie``
or ``tie (bothbad)``), usually with ``question_id``, ``judge`` (the voter), ``turn`` (the
conversation's number of turns), ``language``, ``tstamp``, ``anony`` and the two
conversations ``conversation_a``/``conversation_b`` (lists of ``{"role", "content"}``).
arena-rank (``PairDataset.from_pandas``) reads a frame with ``model_a``, ``model_b`` and
``winner``, spelling a bad tie ``both_bad``.

Files are read by :func:`judgekit.inputs.battles.read_battles` (CSV, JSONL, JSON array,
Parquet), so line numbers in errors match the battle reader's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.battles import read_battles as _read_battle_file
from judgekit.inputs.formats import (
    outcome_winner,
    outputs_frame,
    write_frame,
    write_json,
    write_jsonl,
)
from judgekit.inputs.outputs import prompt_id_for

#: Winner spellings of Chatbot Arena and arena-rank, as (win_a, win_b, tie).
WINNERS = {
    "model_a": (1.0, 0.0, 0.0),
    "model_b": (0.0, 1.0, 0.0),
    "tie": (0.0, 0.0, 1.0),
    "tie (bothbad)": (0.0, 0.0, 1.0),
    "both_bad": (0.0, 0.0, 1.0),
}
BATTLE_COLUMNS = [
    "prompt_id",
    "model_a",
    "model_b",
    "winner",
    "win_a",
    "win_b",
    "tie",
    "flipped",
    "status",
    "weight",
    "judge",
    "turn",
    "language",
]


def _messages(value: Any) -> list[dict[str, Any]]:
    """A conversation as a list of dicts, whether JSON gave a list or Parquet an array."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [dict(m) for m in list(value)]


def _first(messages: list[dict[str, Any]], role: str) -> str | None:
    return next((str(m.get("content")) for m in messages if m.get("role") == role), None)


def read_battles(path: str | Path) -> pd.DataFrame:
    """A Chatbot Arena battle file as a comparisons frame (:data:`BATTLE_COLUMNS`).

    ``prompt_id`` is the battle's ``question_id``, else a hash of its first user message,
    else the row number. Conversations are kept when present.

    Raises:
        InputError: unreadable file, missing columns, blank model names, a model facing
            itself or an unknown winner label, naming the file and line.
    """
    p = Path(path)
    frame, lines = _read_battle_file(p)
    missing = [c for c in ("model_a", "model_b", "winner") if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}", path=str(p))

    def fail(mask: np.ndarray, message: str) -> None:
        if mask.any():
            k = int(np.flatnonzero(mask)[0])
            raise InputError(message, path=str(p), line=int(lines[k]))

    model_a = frame["model_a"].astype("string").str.strip()
    model_b = frame["model_b"].astype("string").str.strip()
    fail((model_a.isna() | (model_a == "")).to_numpy(dtype=bool), "'model_a' is empty")
    fail((model_b.isna() | (model_b == "")).to_numpy(dtype=bool), "'model_b' is empty")
    fail((model_a == model_b).to_numpy(dtype=bool), "a model cannot battle itself")
    winner = frame["winner"].astype("string").str.strip()
    known = winner.isin(list(WINNERS)).fillna(False).to_numpy(dtype=bool)
    if not known.all():
        k = int(np.flatnonzero(~known)[0])
        raise InputError(
            f"unknown winner {frame['winner'].iloc[k]!r}; expected one of {', '.join(WINNERS)}",
            path=str(p),
            line=int(lines[k]),
        )
    outcome = np.array([WINNERS[w] for w in winner])
    if "question_id" in frame:
        prompt_id = frame["question_id"].astype(str)
    elif "conversation_a" in frame:
        prompt_id = frame["conversation_a"].map(
            lambda c: prompt_id_for(_first(_messages(c), "user") or "")
        )
    else:
        prompt_id = pd.Series([f"battle-{k + 1}" for k in range(len(frame))])
    weight = (
        pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=float)
        if "weight" in frame
        else np.ones(len(frame))
    )
    fail(np.isnan(weight) | (weight < 0), "'weight' must be a number >= 0")
    out = pd.DataFrame(
        {
            "prompt_id": prompt_id.to_numpy(),
            "model_a": model_a.to_numpy(dtype=object),
            "model_b": model_b.to_numpy(dtype=object),
            "winner": winner.to_numpy(dtype=object),
            "win_a": outcome[:, 0],
            "win_b": outcome[:, 1],
            "tie": outcome[:, 2],
            "flipped": False,
            "status": "ok",
            "weight": weight,
            "judge": frame["judge"].astype(str).to_numpy() if "judge" in frame else "",
            "turn": frame["turn"].to_numpy() if "turn" in frame else 1,
            "language": frame["language"].to_numpy() if "language" in frame else None,
        },
        columns=BATTLE_COLUMNS,
    )
    for side in ("conversation_a", "conversation_b"):
        if side in frame:
            out[side] = frame[side].map(_messages).to_numpy()
    return out


def outputs_from_battles(battles: pd.DataFrame) -> pd.DataFrame:
    """The first-turn answers inside battles' conversations, as an outputs frame.

    Battles that share a prompt id and model keep the first answer seen.
    """
    rows = []
    for r in battles.to_dict("records"):
        for side in ("a", "b"):
            messages = _messages(r.get(f"conversation_{side}"))
            prompt, output = _first(messages, "user"), _first(messages, "assistant")
            if prompt is None or output is None:
                continue
            rows.append(
                {
                    "prompt_id": r["prompt_id"],
                    "prompt": prompt,
                    "model": r[f"model_{side}"],
                    "output": output,
                }
            )
    frame = outputs_frame(rows)
    return frame.drop_duplicates(["prompt_id", "model"]).reset_index(drop=True)


def battles_frame(
    comparisons: pd.DataFrame, *, outputs: pd.DataFrame | None = None, soft: bool = False
) -> pd.DataFrame:
    """Comparisons in Chatbot Arena's battle fields.

    Args:
        comparisons: an outcomes frame (usable rows are kept).
        outputs: an outputs frame; when given, ``conversation_a``/``conversation_b`` hold
            the prompt and each model's answer.
        soft: also keep ``win_a``, ``win_b`` and ``tie``, so probabilities survive (the
            battle reader then prefers ``winner``; drop it to rank on the soft outcomes).
    """
    ok = comparisons[comparisons["status"] == "ok"] if "status" in comparisons else comparisons
    frame = pd.DataFrame(
        {
            "question_id": ok["prompt_id"].astype(str).to_numpy(),
            "model_a": ok["model_a"].to_numpy(),
            "model_b": ok["model_b"].to_numpy(),
            "winner": (ok["winner"] if "winner" in ok else outcome_winner(ok)).to_numpy(),
            "judge": ok["judge"].to_numpy() if "judge" in ok else "judgekit",
            "turn": ok["turn"].to_numpy() if "turn" in ok else 1,
        }
    )
    if "weight" in ok and not np.allclose(ok["weight"].to_numpy(dtype=float), 1.0):
        frame["weight"] = ok["weight"].to_numpy(dtype=float)
    if soft:
        for column in ("win_a", "win_b", "tie"):
            frame[column] = ok[column].to_numpy(dtype=float)
    if outputs is not None:
        texts = {(str(r["prompt_id"]), str(r["model"])): r for r in outputs.to_dict("records")}
        for side in ("a", "b"):
            conversations = []
            for pid, model in zip(frame["question_id"], frame[f"model_{side}"], strict=True):
                r = texts.get((pid, str(model)))
                conversations.append(
                    []
                    if r is None
                    else [
                        {"content": r["prompt"], "role": "user"},
                        {"content": r["output"], "role": "assistant"},
                    ]
                )
            frame[f"conversation_{side}"] = conversations
    return frame


def write_battles(
    comparisons: pd.DataFrame,
    path: str | Path,
    *,
    outputs: pd.DataFrame | None = None,
    soft: bool = False,
) -> Path:
    """Write comparisons as a battle file: ``.json`` (an array, as Arena's dumps), ``.jsonl``,
    ``.parquet`` or ``.csv`` (where conversations are JSON text in their cells)."""
    frame = battles_frame(comparisons, outputs=outputs, soft=soft)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return write_json(json.loads(frame.to_json(orient="records", force_ascii=False)), p)
    if suffix in (".jsonl", ".ndjson"):
        return write_jsonl(json.loads(frame.to_json(orient="records", force_ascii=False)), p)
    if suffix == ".csv":
        for side in ("conversation_a", "conversation_b"):
            if side in frame:
                frame[side] = frame[side].map(lambda c: json.dumps(c, ensure_ascii=False))
    return write_frame(frame, p)


def to_arena_rank_frame(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The frame ``arena_rank``'s ``PairDataset.from_pandas`` reads: model_a, model_b, winner.

    Soft outcomes become their label (a strict majority of probability, else a tie), since
    arena-rank takes one label per row.
    """
    ok = comparisons[comparisons["status"] == "ok"] if "status" in comparisons else comparisons
    return pd.DataFrame(
        {
            "model_a": ok["model_a"].to_numpy(),
            "model_b": ok["model_b"].to_numpy(),
            "winner": (ok["winner"] if "winner" in ok else outcome_winner(ok)).to_numpy(),
        }
    )


def from_arena_rank_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An arena-rank frame (model_a, model_b, winner) as a comparisons frame.

    Raises:
        InputError: a missing column or an unknown winner (``row N`` is 1-based).
    """
    missing = [c for c in ("model_a", "model_b", "winner") if c not in frame.columns]
    if missing:
        raise InputError(f"arena-rank frame: missing column(s) {', '.join(missing)}")
    labels = frame["winner"].astype(str).str.strip()
    unknown = ~labels.isin(list(WINNERS))
    if unknown.any():
        k = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"arena-rank frame row {k + 1}: unknown winner {labels.iloc[k]!r}")
    outcome = np.array([WINNERS[w] for w in labels]).reshape(-1, 3)
    return pd.DataFrame(
        {
            "prompt_id": [f"battle-{k + 1}" for k in range(len(frame))],
            "model_a": frame["model_a"].astype(str).to_numpy(),
            "model_b": frame["model_b"].astype(str).to_numpy(),
            "winner": labels.map(lambda w: "tie" if w == "both_bad" else w).to_numpy(),
            "win_a": outcome[:, 0],
            "win_b": outcome[:, 1],
            "tie": outcome[:, 2],
            "flipped": False,
            "status": "ok",
            "weight": 1.0,
        }
    )
