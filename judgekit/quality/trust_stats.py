"""The statistics behind the trust report (:mod:`judgekit.quality.trust`): Wilson intervals,
exact binomial tests, Cohen's κ with a bootstrap interval, and two tests of "all models are
equal" (a likelihood-ratio test of Bradley-Terry ratings, Kruskal-Wallis on scores)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from judgekit.rank.data import PairwiseData
from judgekit.rank.graph import identifiability
from judgekit.rank.likelihood import DEFAULT_REG, fit_bt, negative_log_likelihood

FloatArray = NDArray[np.float64]
Interval = tuple[float, float]
Z95 = 1.959963984540054


def wilson_ci(successes: float, n: float, *, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion; ``(nan, nan)`` when ``n`` is 0.

    ``(p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``: unlike the normal
    interval it stays inside [0, 1] and keeps its coverage at 0 % and 100 %.
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_p(successes: int, n: int, rate: float) -> float:
    """Two-sided exact binomial p-value of ``successes`` in ``n`` against ``rate``."""
    if n <= 0:
        return math.nan
    return float(stats.binomtest(int(successes), int(n), float(rate)).pvalue)


def cohen_kappa(rater_1: ArrayLike, rater_2: ArrayLike) -> float:
    """Cohen's κ = (p_o − p_e) / (1 − p_e); NaN when chance explains all agreement (p_e = 1)."""
    r1, r2 = np.asarray(rater_1, dtype=str), np.asarray(rater_2, dtype=str)
    if r1.size == 0:
        return math.nan
    p_o = float(np.mean(r1 == r2))
    labels = np.union1d(r1, r2)
    p_e = float(sum(np.mean(r1 == k) * np.mean(r2 == k) for k in labels))
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_o - p_e) / (1.0 - p_e)


def kappa_bootstrap_ci(
    rater_1: ArrayLike, rater_2: ArrayLike, *, rounds: int = 1000, seed: int = 0
) -> Interval:
    """95 % percentile-bootstrap interval of Cohen's κ, resampling rows (seeded).

    Replicates where κ is undefined (one label throughout) are left out; ``(nan, nan)``
    when none is defined.
    """
    r1, r2 = np.asarray(rater_1, dtype=str), np.asarray(rater_2, dtype=str)
    n = r1.size
    if n == 0 or rounds <= 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(rounds, n))
    values = np.array([cohen_kappa(r1[d], r2[d]) for d in draws])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


@dataclass(frozen=True)
class Separation:
    """A test of "all models are equal": its p-value, statistic and degrees of freedom."""

    p_value: float
    statistic: float
    df: int
    test: str


def likelihood_ratio_test(data: PairwiseData) -> Separation:
    """Likelihood-ratio test of Bradley-Terry ratings against "every model is equal".

    The statistic ``2 (ℓ(θ̂) − ℓ(0))`` uses the tie-as-half-a-win likelihood of
    :mod:`judgekit.rank.likelihood` (soft outcomes count as fractional wins), and is compared
    with χ² on ``models − components`` degrees of freedom: each connected group of compared
    models fixes one rating. Where one model wins or loses everything the unpenalised MLE
    lies at infinity; the fit then uses the small default penalty, whose likelihood is a
    little below the supremum, so the test errs towards "no difference".
    """
    counts = data.aggregate()
    used = np.flatnonzero(counts.rows_per_model > 0)
    if counts.n_pairs == 0 or used.size < 2:
        return Separation(math.nan, math.nan, 0, "likelihood-ratio")
    graph = sparse.coo_matrix(
        (np.ones(counts.n_pairs), (counts.i, counts.j)), shape=(counts.n_models,) * 2
    )
    n_components, labels = connected_components(graph, directed=False)
    df = int(used.size - np.unique(labels[used]).size)
    reg = 0.0 if identifiability(counts).strongly_connected else DEFAULT_REG
    fit = fit_bt(counts, ties="half", reg=reg)

    def nll(theta: FloatArray) -> float:
        value, _, _ = negative_log_likelihood(
            counts, ties="half", theta=theta, eta=None, reg=0.0, hessian=False
        )
        return value

    statistic = max(0.0, 2.0 * (nll(np.zeros(counts.n_models)) - nll(fit.theta)))
    p = float(stats.chi2.sf(statistic, df)) if df > 0 else math.nan
    return Separation(p, statistic, df, "likelihood-ratio")


def kruskal_wallis_test(scores: pd.DataFrame) -> Separation:
    """Kruskal-Wallis H test that every model's per-item scores share one distribution.

    Chosen over a one-way ANOVA because rubric scores are ordinal and bunched on a few
    values (the test corrects for ties), and over Friedman's test because it needs neither
    a complete prompt x model table nor three models. Identical scores everywhere give
    ``p = 1`` (nothing tells the models apart).

    Args:
        scores: ``model`` and ``score`` columns, one row per scored item (NaN left out).
    """
    usable = scores[np.isfinite(pd.to_numeric(scores["score"], errors="coerce"))]
    groups = [g["score"].to_numpy(dtype=float) for _, g in usable.groupby("model", sort=True)]
    groups = [g for g in groups if g.size]
    if len(groups) < 2:
        return Separation(math.nan, math.nan, 0, "kruskal-wallis")
    if np.ptp(np.concatenate(groups)) == 0:
        return Separation(1.0, 0.0, len(groups) - 1, "kruskal-wallis")
    result = stats.kruskal(*groups)
    return Separation(
        float(result.pvalue), float(result.statistic), len(groups) - 1, "kruskal-wallis"
    )


def separated_pairs(board: pd.DataFrame | None) -> tuple[int | None, int]:
    """How many pairs of models have 95 % CIs that do not overlap, and how many pairs there are.

    None (with the pair count) when the board has no CIs.
    """
    if board is None or board.empty:
        return None, 0
    n = len(board)
    pairs = n * (n - 1) // 2
    if "ci_low" not in board or "ci_high" not in board:
        return None, pairs
    low = pd.to_numeric(board["ci_low"], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(board["ci_high"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        return None, pairs
    apart = (low[:, None] > high[None, :]) | (high[:, None] < low[None, :])
    return int(np.triu(apart, k=1).sum()), pairs
