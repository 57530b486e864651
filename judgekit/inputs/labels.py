"""The shape of human and judge labels, shared by every reader of labelled data.

Human pairwise labels are frames with :data:`HUMAN_LABEL_COLUMNS` (winner ``model_a``,
``model_b`` or ``tie``) and human scores frames with :data:`HUMAN_SCORE_COLUMNS`; a judged
outcome becomes ``"a"``, ``"b"`` or ``"tie"`` through :func:`outcome_labels`. The peer
formats and the label loader both build on this module, so it sits below both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from judgekit.errors import InputError

#: The outcome classes of a pairwise verdict, in the order the metrics use them.
LABELS = ("a", "b", "tie")

HUMAN_LABEL_COLUMNS = ["prompt_id", "model_a", "model_b", "winner", "annotator", "weight"]
HUMAN_SCORE_COLUMNS = ["prompt_id", "model", "score", "annotator"]
WINNER_SPELLINGS = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "tie",
    "both_bad": "tie",
}


def normalise_winner(
    value: Any, *, model_a: str, model_b: str, path: str | Path | None, line: int | None
) -> str:
    """``model_a``, ``model_b`` or ``tie`` from any accepted spelling of a winner."""
    label = str(value).strip() if value is not None else ""
    if label in WINNER_SPELLINGS:
        return WINNER_SPELLINGS[label]
    if label == model_a:
        return "model_a"
    if label == model_b:
        return "model_b"
    raise InputError(
        f"unknown winner {label!r}; use model_a, model_b, tie or one of the two model names",
        path=None if path is None else str(path),
        line=line,
    )


def outcome_labels(win_a: ArrayLike, win_b: ArrayLike, tie: ArrayLike) -> NDArray[np.str_]:
    """``"a"``, ``"b"`` or ``"tie"`` per row: a class wins only with a strict majority."""
    a, b, t = (np.asarray(x, dtype=np.float64) for x in (win_a, win_b, tie))
    out = np.full(a.shape, "tie", dtype=object)
    out[a > np.maximum(b, t)] = "a"
    out[b > np.maximum(a, t)] = "b"
    return out.astype(str)
