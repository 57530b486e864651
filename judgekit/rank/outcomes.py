"""Turn outcomes into a leaderboard: ratings from ``judgekit.rank`` plus win rate and counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.rank import PairwiseData, bradley_terry, ratings_frame
from judgekit.types import Outcome

LEADERBOARD_COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "win_rate", "n"]


def outcomes_frame(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_id": [o.prompt_id for o in outcomes],
            "model_a": [o.model_a for o in outcomes],
            "model_b": [o.model_b for o in outcomes],
            "win_a": [o.win_a for o in outcomes],
            "win_b": [o.win_b for o in outcomes],
            "tie": [o.tie for o in outcomes],
            "flipped": [o.flipped for o in outcomes],
            "status": [o.status for o in outcomes],
        }
    )


def pairwise_data(frame: pd.DataFrame, *, models: Sequence[str]) -> PairwiseData:
    """Soft outcomes of the usable comparisons, in the ranking engine's shape."""
    ok = frame[frame["status"] == "ok"]
    index = {m: i for i, m in enumerate(models)}
    return PairwiseData.from_arrays(
        models=tuple(models),
        a=ok["model_a"].map(index).to_numpy(dtype=np.int64),
        b=ok["model_b"].map(index).to_numpy(dtype=np.int64),
        win_a=ok["win_a"].to_numpy(dtype=float),
        win_b=ok["win_b"].to_numpy(dtype=float),
        tie=ok["tie"].to_numpy(dtype=float),
    )


def win_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: expected win rate (a tie counts half) and number of usable comparisons."""
    ok = frame[frame["status"] == "ok"]
    score_a = ok["win_a"] + 0.5 * ok["tie"]
    long = pd.concat(
        [
            pd.DataFrame({"model": ok["model_a"], "score": score_a}),
            pd.DataFrame({"model": ok["model_b"], "score": 1.0 - score_a}),
        ]
    )
    grouped = long.groupby("model")["score"]
    return pd.DataFrame({"win_rate": grouped.mean(), "n": grouped.size()}).reset_index()


def build_leaderboard(
    frame: pd.DataFrame,
    *,
    models: Sequence[str],
    ties: str = "half",
    bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Bradley-Terry ratings with bootstrap CIs, win rate and n per model, best first."""
    data = pairwise_data(frame, models=models)
    ratings = bradley_terry(data, ties=ties, bootstrap=bootstrap, seed=seed)
    board = ratings_frame(ratings).merge(win_stats(frame), on="model", how="left")
    board["win_rate"] = board["win_rate"].fillna(0.0)
    board["n"] = board["n"].fillna(0).astype(int)
    extra = [c for c in board.columns if c not in LEADERBOARD_COLUMNS]
    return board[LEADERBOARD_COLUMNS + extra].reset_index(drop=True)
