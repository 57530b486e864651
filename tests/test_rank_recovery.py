"""Synthetic recovery: known strengths come back; 95 % intervals cover them ~95 % of the time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from judgekit.rank import bradley_terry, simulate_pairwise
from judgekit.rank.scale import ELO_PER_NAT


def true_ratings(theta: np.ndarray) -> np.ndarray:
    return ELO_PER_NAT * (theta - theta.mean()) + 1000.0


@pytest.mark.parametrize(("ties", "tie_share"), [("half", 0.0), ("half", 0.2), ("davidson", 0.2)])
def test_recovers_50_models_from_200k_comparisons(ties: str, tie_share: float) -> None:
    theta = np.random.default_rng(0).normal(0.0, 1.0, 50)
    data = simulate_pairwise(theta, n=200_000, seed=1, tie_share=tie_share)
    r = bradley_terry(data, ties=ties)
    assert spearmanr(r.rating, theta).statistic >= 0.99
    if tie_share == 0:
        # Each model plays ~8,000 battles: a standard error of ~4 Elo.
        np.testing.assert_allclose(r.rating, true_ratings(theta), atol=20)


@pytest.mark.parametrize("method", ["bootstrap", "sandwich"])
def test_nominal_95_percent_intervals_cover_the_truth(method: str) -> None:
    rng = np.random.default_rng(42)
    theta = rng.normal(0.0, 0.8, 25)
    truth = true_ratings(theta)
    covered = total = 0
    for draw in range(30):
        data = simulate_pairwise(theta, n=8_000, seed=1_000 + draw)
        if method == "bootstrap":
            r = bradley_terry(data, bootstrap=200, seed=draw)
        else:
            r = bradley_terry(data, ci="sandwich")
        low, high = np.asarray(r.ci_low), np.asarray(r.ci_high)
        covered += int(np.sum((low <= truth) & (truth <= high)))
        total += truth.size
    coverage = covered / total
    assert 0.9 <= coverage <= 0.99, coverage


def test_star_graph_recovery() -> None:
    theta = np.linspace(-1.5, 1.5, 30)
    data = simulate_pairwise(theta, n=60_000, seed=7, tie_share=0.1, star=True)
    r = bradley_terry(data, bootstrap=100)
    assert spearmanr(r.rating, theta).statistic >= 0.99
    assert r.extras["bootstrap"]["batched_converged"] == 100
