"""MT-Bench's results (FastChat ``llm_judge/show_result.py``), computed as FastChat does.

- ``--mode single``: grades of -1 (no rating found) are dropped; a model's score is the
  mean of its grades on turn 1, on turn 2, and over both turns together (every grade
  weighs the same, so a model with fewer turn-2 grades leans on turn 1).
- ``--mode pairwise-baseline`` / ``pairwise-all``: judgments where either game failed are
  dropped.  A judgment whose game 1 is a tie, or whose two games disagree (the verdict
  flipped with the order), is a tie for both models; otherwise the agreed winner wins and
  the other loses.  Turn 1 and turn 2 judgments count alike.  Against a baseline only
  judgments involving it count and the baseline's own row is left out.  ``win_rate`` and
  ``loss_rate`` are shares of all judgments; ``win_rate_adjusted`` counts a tie as half a
  win.  ``models`` keeps the judgments whose ``model_1`` is listed, as FastChat's
  ``--model-list`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError

SINGLE_COLUMNS = ["model", "score_turn_1", "score_turn_2", "score"]
PAIR_COLUMNS = ["model", "win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"]


def single_board(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean grade per model on turn 1, turn 2 and overall, sorted by the overall mean.

    ``scores``: ``model``, ``turn`` and ``score`` (-1 or NaN where no rating was found).
    """
    frame = scores[["model", "turn", "score"]].copy()
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    frame = frame[(frame["score"] != -1) & frame["score"].notna()]
    if frame.empty:
        raise ConfigError("no usable grade: every score is -1")
    by_turn = frame.groupby(["model", "turn"])["score"].mean().unstack("turn")
    board = pd.DataFrame(
        {
            "model": by_turn.index,
            "score_turn_1": by_turn.get(1, pd.Series(np.nan, index=by_turn.index)).to_numpy(),
            "score_turn_2": by_turn.get(2, pd.Series(np.nan, index=by_turn.index)).to_numpy(),
            "score": frame.groupby("model")["score"].mean().reindex(by_turn.index).to_numpy(),
        }
    )
    return board.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def pairwise_board(
    judgments: pd.DataFrame,
    *,
    baseline: str | None = None,
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Win, loss and tie counts and rates per model, sorted by ``win_rate_adjusted``.

    ``judgments``: one row per judgment line with ``model_1``, ``model_2``, ``g1_winner``
    and ``g2_winner`` (``model_1``, ``model_2``, ``tie`` or ``error``).  ``baseline``
    gives pairwise-baseline; without it, pairwise-all.
    """
    frame = judgments[(judgments["g1_winner"] != "error") & (judgments["g2_winner"] != "error")]
    if models is not None:
        frame = frame[frame["model_1"].isin(list(models))]
    if baseline is not None:
        frame = frame[(frame["model_1"] == baseline) | (frame["model_2"] == baseline)]
    if frame.empty:
        raise ConfigError("no usable pairwise judgment")
    g1, g2 = frame["g1_winner"].to_numpy(), frame["g2_winner"].to_numpy()
    tie = (g1 == "tie") | (g1 != g2)
    first_won = ~tie & (g1 == "model_1")
    m1, m2 = frame["model_1"].to_numpy(), frame["model_2"].to_numpy()
    winner = np.where(first_won, m1, m2)
    loser = np.where(first_won, m2, m1)
    records = pd.concat(
        [
            pd.DataFrame({"model": m1[tie], "win": 0, "loss": 0, "tie": 1}),
            pd.DataFrame({"model": m2[tie], "win": 0, "loss": 0, "tie": 1}),
            pd.DataFrame({"model": winner[~tie], "win": 1, "loss": 0, "tie": 0}),
            pd.DataFrame({"model": loser[~tie], "win": 0, "loss": 1, "tie": 0}),
        ],
        ignore_index=True,
    )
    board = records.groupby("model")[["win", "loss", "tie"]].sum()
    if baseline is not None:
        board = board[board.index != baseline]
    total = board["win"] + board["loss"] + board["tie"]
    board["win_rate"] = board["win"] / total
    board["loss_rate"] = board["loss"] / total
    board["win_rate_adjusted"] = (board["win"] + 0.5 * board["tie"]) / total
    board = board.reset_index()[PAIR_COLUMNS]
    board = board.sort_values("win_rate_adjusted", ascending=False, kind="stable")
    return board.reset_index(drop=True)


def judgments_from_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """FastChat's judgment lines back from per-game verdicts (game 1 ``ab``, game 2 ``ba``).

    ``verdicts`` as :func:`judgekit.inputs.formats.mtbench.read_mtbench_pair_judgments` reads
    them, two consecutive rows per line; winners ``model_a``/``model_b`` become
    ``model_1``/``model_2``.
    """
    if len(verdicts) % 2:
        raise ConfigError("pair judgments come as two games per line")
    g1, g2 = verdicts.iloc[0::2].reset_index(drop=True), verdicts.iloc[1::2].reset_index(drop=True)
    names = {"model_a": "model_1", "model_b": "model_2", "tie": "tie", "error": "error"}
    return pd.DataFrame(
        {
            "model_1": g1["model_a"],
            "model_2": g1["model_b"],
            "g1_winner": g1["winner"].map(names),
            "g2_winner": g2["winner"].map(names),
            "turn": g1["turn"] if "turn" in g1 else 1,
        }
    )


__all__ = [
    "PAIR_COLUMNS",
    "SINGLE_COLUMNS",
    "judgments_from_verdicts",
    "pairwise_board",
    "single_board",
]
