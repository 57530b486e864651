"""Ratings as a leaderboard: CI-aware ranks and a sorted DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.rank.data import PairwiseData
from judgekit.rank.grouped import GroupedPairwiseData
from judgekit.types import Ratings

FRAME_COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "identifiable"]


def ci_aware_rank(
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    rating: Sequence[float] | None = None,
) -> list[int]:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound.

    This is the rank Chatbot Arena publishes (Chiang et al. 2024): models whose intervals
    overlap share a rank, so a rank claims only what the CIs support. Every table in
    judgekit that ranks models (compare, grade, checklist, arena, listwise, rank and the
    dashboard) ranks through this one function.

    Args:
        ci_low, ci_high: each model's 95 % interval.
        rating: each model's point estimate. A model whose interval is missing (NaN) is
            ranked by this point, as an interval of width zero, so without any intervals the
            result is competition ranking ("1224") by rating. A model with neither an
            interval nor a rating ranks after every model that has one.
    """
    low = np.asarray(ci_low, dtype=np.float64)
    high = np.asarray(ci_high, dtype=np.float64)
    if low.shape != high.shape:
        raise ValueError(f"ci_low has {low.shape[0]} values but ci_high has {high.shape[0]}")
    if rating is not None:
        point = np.asarray(rating, dtype=np.float64)
        if point.shape != low.shape:
            raise ValueError(f"rating has {point.shape[0]} values but the CIs {low.shape[0]}")
        no_interval = np.isnan(low) | np.isnan(high)
        low = np.where(no_interval, point, low)
        high = np.where(no_interval, point, high)
    known = ~(np.isnan(low) | np.isnan(high))
    # Sorting the lower bounds turns the count into one binary search per model.
    sorted_low = np.sort(low[known])
    above = sorted_low.shape[0] - np.searchsorted(sorted_low, high, side="right")
    last = int(known.sum()) + 1
    return [int(x) + 1 if ok else last for x, ok in zip(above, known, strict=True)]


def ratings_frame(ratings: Ratings) -> pd.DataFrame:
    """A leaderboard DataFrame, best first.

    Columns: ``rank`` (:func:`ci_aware_rank`; by rating alone without CIs), ``model``,
    ``rating``, ``ci_low``, ``ci_high`` (NaN without CIs) and ``identifiable``.
    """
    n = len(ratings.models)
    has_ci = ratings.ci_low is not None and ratings.ci_high is not None
    low = np.asarray(ratings.ci_low if has_ci else [np.nan] * n, dtype=np.float64)
    high = np.asarray(ratings.ci_high if has_ci else [np.nan] * n, dtype=np.float64)
    rank = ci_aware_rank(low, high, rating=ratings.rating)
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


def win_rates(data: PairwiseData | GroupedPairwiseData) -> pd.DataFrame:
    """Per model: comparisons ``n`` and score rate ``win_rate`` (a tie counts half)."""
    rows, count = (data.rows, data.count) if isinstance(data, GroupedPairwiseData) else (data, None)
    totals = rows.win_a + rows.win_b + rows.tie
    score_a = (rows.win_a + 0.5 * rows.tie) / totals
    score_b = 1.0 - score_a
    if count is not None:
        score_a, score_b = score_a * count, score_b * count
    n = rows.n_models
    battles = np.bincount(rows.a, count, minlength=n) + np.bincount(rows.b, count, minlength=n)
    score = np.bincount(rows.a, score_a, n) + np.bincount(rows.b, score_b, n)
    rate = np.divide(score, battles, out=np.zeros(n), where=battles > 0)
    return pd.DataFrame(
        {"model": list(rows.models), "n": battles.astype(np.int64), "win_rate": rate}
    )
