"""Ratings as a leaderboard: CI-aware ranks and a sorted DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.rank.data import PairwiseData
from judgekit.types import Ratings

FRAME_COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "identifiable"]


def ci_aware_rank(ci_low: Sequence[float], ci_high: Sequence[float]) -> list[int]:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound.

    This is the rank Chatbot Arena publishes (Chiang et al. 2024): models whose intervals
    overlap share a rank, so a rank claims only what the CIs support.
    """
    low = np.asarray(ci_low, dtype=np.float64)
    high = np.asarray(ci_high, dtype=np.float64)
    # Sorting the lower bounds turns the count into one binary search per model.
    sorted_low = np.sort(low)
    above = low.shape[0] - np.searchsorted(sorted_low, high, side="right")
    return [int(x) + 1 for x in above]


def ordinal_rank(rating: Sequence[float]) -> list[int]:
    """Competition ranking ("1224") by rating, best first."""
    values = pd.Series(np.asarray(rating, dtype=np.float64))
    return [int(x) for x in values.rank(method="min", ascending=False)]


def ratings_frame(ratings: Ratings) -> pd.DataFrame:
    """A leaderboard DataFrame, best first.

    Columns: ``rank`` (CI-aware when the ratings have CIs, else ordinal), ``model``,
    ``rating``, ``ci_low``, ``ci_high`` (NaN without CIs) and ``identifiable``.
    """
    n = len(ratings.models)
    has_ci = ratings.ci_low is not None and ratings.ci_high is not None
    low = np.asarray(ratings.ci_low if has_ci else [np.nan] * n, dtype=np.float64)
    high = np.asarray(ratings.ci_high if has_ci else [np.nan] * n, dtype=np.float64)
    rank = ci_aware_rank(low, high) if has_ci else ordinal_rank(ratings.rating)
    identifiable = ratings.identifiable if ratings.identifiable is not None else (True,) * n
    frame = pd.DataFrame(
        {
            "rank": rank,
            "model": list(ratings.models),
            "rating": np.asarray(ratings.rating, dtype=np.float64),
            "ci_low": low,
            "ci_high": high,
            "identifiable": list(identifiable),
        },
        columns=FRAME_COLUMNS,
    )
    frame = frame.sort_values(["rating", "model"], ascending=[False, True], kind="stable")
    return frame.reset_index(drop=True)


def win_rates(data: PairwiseData) -> pd.DataFrame:
    """Per model: comparisons ``n`` and score rate ``win_rate`` (a tie counts half)."""
    totals = data.win_a + data.win_b + data.tie
    score_a = (data.win_a + 0.5 * data.tie) / totals
    n = data.n_models
    battles = np.bincount(data.a, minlength=n) + np.bincount(data.b, minlength=n)
    score = np.bincount(data.a, score_a, n) + np.bincount(data.b, 1.0 - score_a, n)
    rate = np.divide(score, battles, out=np.zeros(n), where=battles > 0)
    return pd.DataFrame({"model": list(data.models), "n": battles, "win_rate": rate})
