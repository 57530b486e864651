"""Bootstrap machinery: exact Poisson draws, count units, batched refits, reproducibility."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from judgekit.rank import PairwiseData, bradley_terry, simulate_pairwise
from judgekit.rank.bootstrap import PoissonTable, _chord, bootstrap_bt, draw_counts
from judgekit.rank.likelihood import fit_bt


@pytest.mark.parametrize("mean", [1, 3, 17, 150, 2000])
def test_poisson_table_draws_follow_the_poisson_law(mean: int) -> None:
    table = PoissonTable(np.array([mean, 1, 5], dtype=float))
    draws = table.draw(40_000, np.random.default_rng(mean))[:, 0].astype(int)
    values, observed = np.unique(draws, return_counts=True)
    expected = stats.poisson.pmf(values, mean) * draws.size
    keep = expected > 10  # pool the sparse tails into one cell
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], draws.size - expected[keep].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-4
    assert draws.mean() == pytest.approx(mean, rel=0.05 if mean < 5 else 0.01)


def test_poisson_table_is_inversion_of_the_cdf() -> None:
    # Same uniforms, same answers as a brute-force inversion: smallest x with F(x) >= u.
    counts = np.array([1, 4, 4, 60, 333], dtype=float)
    table = PoissonTable(counts)
    draws = table.draw(300, np.random.default_rng(7))
    u = np.random.default_rng(7).random((300, counts.size))
    brute = np.stack([stats.poisson.ppf(u[:, k], counts[k]) for k in range(counts.size)], axis=1)
    np.testing.assert_array_equal(draws, brute)


def test_multinomial_keeps_the_total() -> None:
    counts = np.array([3.0, 5.0, 2.0])
    draws = draw_counts(counts, size=100, rng=np.random.default_rng(0), resample="multinomial")
    assert np.all(draws.sum(axis=1) == 10)


@pytest.mark.parametrize("soft", [False, True])
def test_units_reproduce_the_pair_stats(soft: bool) -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    if soft:
        p = rng.dirichlet([1, 1, 1], n).round(1)
        p[:, 2] = 1 - p[:, 0] - p[:, 1]
        p = np.clip(p, 0, 1)
    else:
        p = np.eye(3)[rng.integers(0, 3, n)]
    data = PairwiseData.from_arrays(
        models=list("abcdef"),
        a=a,
        b=b,
        win_a=p[:, 0],
        win_b=p[:, 1],
        tie=p[:, 2],
        weight=rng.choice([1.0, 3.0], n),
    )
    counts = data.aggregate()
    assert counts.unit_count.sum() == n
    np.testing.assert_allclose(counts.resampled_stats(counts.unit_count[None, :])[0], counts.stats)
    assert counts.total == pytest.approx(float((data.weight * (p.sum(axis=1))).sum()))


@pytest.mark.parametrize("ties", ["half", "davidson", "rao-kupper"])
def test_batched_refit_equals_one_by_one_fits(ties: str) -> None:
    data = simulate_pairwise(np.linspace(-1.5, 1.5, 10), n=6_000, seed=5, tie_share=0.25)
    counts = data.aggregate()
    fit = fit_bt(counts, ties=ties, reg=0.0)
    rng = np.random.default_rng(9)
    unit_counts = draw_counts(counts.unit_count, size=8, rng=rng, resample="poisson")
    stats_b = counts.resampled_stats(unit_counts)
    h_inv = np.linalg.inv(fit.gauged_hessian())
    theta, eta, done = _chord(counts, fit, stats_b, h_inv, tol=1e-9, max_iter=100)
    assert done.all()
    for k in range(8):
        single = fit_bt(replace(counts, stats=stats_b[k]), ties=ties, reg=0.0)
        np.testing.assert_allclose(theta[k] - theta[k].mean(), single.theta, atol=1e-7)
        if eta is not None:
            assert eta[k] == pytest.approx(single.eta, abs=1e-6)


def test_bootstrap_is_seeded_and_thread_independent() -> None:
    data = simulate_pairwise(np.linspace(-1, 1, 12), n=5_000, seed=1, tie_share=0.1)
    counts = data.aggregate()
    fit = fit_bt(counts, ties="half", reg=0.0)
    one = bootstrap_bt(counts, fit, rounds=120, seed=3, n_jobs=1)
    two = bootstrap_bt(counts, fit, rounds=120, seed=3, n_jobs=2)
    other = bootstrap_bt(counts, fit, rounds=120, seed=4, n_jobs=2)
    np.testing.assert_allclose(one.theta, two.theta, atol=1e-12)
    assert not np.allclose(one.theta, other.theta)
    assert one.theta.shape == (120, 12)


def test_bootstrap_intervals_contain_the_estimate_for_every_tie_model() -> None:
    data = simulate_pairwise(np.linspace(-1, 1, 6), n=3_000, seed=8, tie_share=0.3)
    for ties in ("half", "davidson", "rao-kupper"):
        for resample in ("poisson", "multinomial"):
            r = bradley_terry(data, ties=ties, bootstrap=200, seed=1, resample=resample)
            low, high, mid = map(np.array, (r.ci_low, r.ci_high, r.rating))
            assert np.all(low < mid) and np.all(mid < high), (ties, resample)
            assert r.extras["bootstrap_ratings"].shape == (200, 6)
            if ties != "half":
                key = "nu" if ties == "davidson" else "theta"
                lo, hi = r.extras["tie_parameter_ci"][key]
                assert lo < r.extras["tie_parameter"][key] < hi
