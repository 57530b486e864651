"""Synthetic comparisons from known strengths, for tests, benchmarks and power analysis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.data import PairwiseData


def simulate_pairwise(
    strengths: Sequence[float] | NDArray[np.float64],
    *,
    n: int,
    seed: int,
    tie_share: float = 0.0,
    star: bool = False,
) -> PairwiseData:
    """Draw ``n`` Bradley-Terry battles among models with log-strengths ``strengths``.

    Each battle picks two distinct models uniformly at random; a share ``tie_share`` of the
    battles are ties, the rest are won with probability ``σ(θ_a - θ_b)``. With ``star=True``
    every battle puts model 0 (the baseline) in slot a against a random other model, the shape
    of AlpacaEval and arena-hard.

    Args:
        strengths: Natural-log strengths θ, one per model (named ``m000``, ``m001``, ...).
        n: Number of battles.
        seed: Seed of the draw.
        tie_share: Probability that a battle is a tie.
        star: Compare everyone with model 0 only.
    """
    theta = np.asarray(strengths, dtype=np.float64)
    k = theta.shape[0]
    if k < 2 or n < 1 or not 0 <= tie_share < 1:
        raise ConfigError("need at least two models, one battle and 0 <= tie_share < 1")
    rng = np.random.default_rng(seed)
    if star:
        a = np.zeros(n, dtype=np.int64)
        b = rng.integers(1, k, n)
    else:
        a = rng.integers(0, k, n)
        b = rng.integers(0, k - 1, n)
        b = np.where(b >= a, b + 1, b)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    tie = rng.random(n) < tie_share
    win = ~tie & (rng.random(n) < p)
    return PairwiseData.from_arrays(
        models=[f"m{i:03d}" for i in range(k)],
        a=a,
        b=b,
        win_a=win.astype(np.float64),
        win_b=(~tie & ~win).astype(np.float64),
        tie=tie.astype(np.float64),
    )
