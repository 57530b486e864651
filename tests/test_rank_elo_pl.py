"""Online Elo with an order bootstrap, Plackett-Luce via choix, openskill K-wise ratings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from judgekit.errors import ConfigError
from judgekit.rank import (
    PairwiseData,
    RankingData,
    elo,
    openskill_ratings,
    plackett_luce,
    simulate_pairwise,
)

ABC = ("A", "B", "C")


def reference_elo(data: PairwiseData, *, k: float, initial: float) -> list[float]:
    """FastChat's compute_online_elo, restated: one pass in the given order."""
    rating = [initial] * data.n_models
    for a, b, wa, t in zip(data.a, data.b, data.win_a, data.tie, strict=True):
        ea = 1 / (1 + 10 ** ((rating[b] - rating[a]) / 400))
        sa = wa + 0.5 * t
        rating[a] += k * (sa - ea)
        rating[b] += k * ((1 - sa) - (1 - ea))
    return rating


def test_elo_single_pass_hand_computed() -> None:
    data = PairwiseData.from_arrays(
        models=ABC, a=[0, 1, 0], b=[1, 2, 2], win_a=[1, 0, 0], win_b=[0, 0, 1], tie=[0, 1, 0]
    )
    r = elo(data, k=32, shuffles=0)
    # Game 1: A beats B at equal ratings: ±16.
    a1, b1 = 1016.0, 984.0
    # Game 2: B (984) ties C (1000).
    e_b = 1 / (1 + 10 ** ((1000 - b1) / 400))
    b2, c2 = b1 + 32 * (0.5 - e_b), 1000 - 32 * (0.5 - e_b)
    # Game 3: C beats A.
    e_c = 1 / (1 + 10 ** ((a1 - c2) / 400))
    a3, c3 = a1 - 32 * (1 - e_c), c2 + 32 * (1 - e_c)
    assert r.rating == pytest.approx((a3, b2, c3), abs=1e-9)
    assert r.ci_low is None and r.extras["single_pass"] == pytest.approx(r.rating)


def test_elo_matches_reference_loop_and_is_zero_sum() -> None:
    data = simulate_pairwise(np.linspace(-1, 1, 7), n=2_000, seed=4, tie_share=0.2)
    r = elo(data, k=4, initial=1500, shuffles=0)
    np.testing.assert_allclose(r.rating, reference_elo(data, k=4, initial=1500), atol=1e-9)
    assert np.mean(r.rating) == pytest.approx(1500)


def test_order_bootstrap_reports_median_and_percentiles_over_shuffles() -> None:
    strengths = np.linspace(-1, 1, 6)
    data = simulate_pairwise(strengths, n=1_500, seed=9)
    r = elo(data, shuffles=60, seed=1, k=8)
    assert r.extras["ci"]["method"] == "order-bootstrap"
    low, mid, high = map(np.asarray, (r.ci_low, r.rating, r.ci_high))
    assert np.all(low <= mid) and np.all(mid <= high) and np.any(high - low > 1)
    assert spearmanr(r.rating, strengths).statistic > 0.9
    # Seeded: the same seed gives the same medians, another seed other ones.
    assert elo(data, shuffles=60, seed=1, k=8).rating == r.rating
    assert elo(data, shuffles=60, seed=2, k=8).rating != r.rating


def test_order_does_not_matter_when_every_game_is_the_same() -> None:
    data = PairwiseData.from_counts(models=ABC, counts=[(0, 1, 20, 0, 0)])
    r = elo(data, shuffles=10)
    np.testing.assert_allclose(r.ci_low, r.ci_high)
    np.testing.assert_allclose(r.rating, r.extras["single_pass"])
    with pytest.raises(ConfigError):
        elo(data, k=0)


def test_plackett_luce_from_pairs_drops_ties_and_repeats_whole_weights() -> None:
    data = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 3, 1, 2), (1, 2, 2, 1, 0), (0, 2, 2, 1, 1)]
    )
    r = plackett_luce(data)
    assert r.extras["dropped_ties"] == 3
    assert r.rating[0] > r.rating[1] > r.rating[2]
    weighted = PairwiseData.from_arrays(
        models=ABC,
        a=[0, 1, 2],
        b=[1, 2, 0],
        win_a=[1, 1, 1],
        win_b=[0, 0, 0],
        tie=[0, 0, 0],
        weight=[2, 1, 1],
    )
    copies = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 2, 0, 0), (1, 2, 1, 0, 0), (2, 0, 1, 0, 0)]
    )
    assert plackett_luce(weighted).rating == plackett_luce(copies).rating
    assert openskill_ratings(weighted).rating == openskill_ratings(copies).rating
    fractional = PairwiseData.from_arrays(
        models=ABC, a=[0, 1], b=[1, 2], win_a=[1, 1], win_b=[0, 0], tie=[0, 0], weight=[0.5, 1]
    )
    with pytest.raises(ConfigError, match="fractional weights"):
        plackett_luce(fractional)
    soft = PairwiseData.from_arrays(
        models=ABC, a=[0, 1], b=[1, 2], win_a=[0.6, 1], win_b=[0.4, 0], tie=[0, 0]
    )
    with pytest.raises(ConfigError, match="soft"):
        plackett_luce(soft)


def test_plackett_luce_bootstrap_and_disconnected_rankings() -> None:
    rankings = [("a", "b", "c"), ("b", "a", "c"), ("c", "a", "b"), ("a", "c", "b")] * 5
    data = RankingData.from_lists(rankings + [("d", "e")])
    r = plackett_luce(data, bootstrap=40, seed=3)
    assert np.all(np.isfinite(r.rating + r.ci_low + r.ci_high))
    assert r.extras["alpha"] > 0  # d and e never meet the others
    assert r.identifiable[:3] == (True, True, True) and not r.identifiable[3]
    assert np.all(np.asarray(r.ci_low) <= np.asarray(r.ci_high))


def test_openskill_matches_openskill_run_by_hand() -> None:
    from openskill.models import PlackettLuce

    rankings = [("a", "b", "c"), ("b", "c", "a"), ("a", "c", "b"), ("c", "a", "b")]
    data = RankingData.from_lists(rankings)
    r = openskill_ratings(data)
    model = PlackettLuce(tau=0.0)
    players = {m: model.rating() for m in "abc"}
    for ranking in rankings:
        teams = model.rate([[players[m]] for m in ranking], ranks=[1, 2, 3])
        for m, team in zip(ranking, teams, strict=True):
            players[m] = team[0]
    assert r.extras["mu"] == pytest.approx(tuple(players[m].mu for m in "abc"))
    assert r.extras["sigma"] == pytest.approx(tuple(players[m].sigma for m in "abc"))
    order = np.argsort(r.extras["mu"])
    assert list(np.argsort(r.rating)) == list(order)


def test_openskill_on_pairs_ranks_the_strong_first_and_handles_ties() -> None:
    strengths = np.linspace(-1.5, 1.5, 5)
    data = simulate_pairwise(strengths, n=1_500, seed=6, tie_share=0.2)
    r = openskill_ratings(data)
    assert spearmanr(r.rating, strengths).statistic > 0.9
    sigma = np.asarray(r.extras["sigma"])
    assert np.all(sigma < 25 / 3)  # every posterior is tighter than the prior
    half = (np.asarray(r.ci_high) - np.asarray(r.ci_low)) / 2
    assert np.all(half > 0)


def test_vectorised_shuffled_passes_equal_one_pass_per_order() -> None:
    from judgekit.rank.elo import _shuffled_passes

    data = simulate_pairwise(np.linspace(-1, 1, 5), n=300, seed=12, tie_share=0.3)
    rng = np.random.default_rng(0)
    orders = np.stack([np.arange(300), rng.permutation(300), rng.permutation(300)])
    score = data.win_a + 0.5 * data.tie
    passes = _shuffled_passes(
        data.a, data.b, score, 16.0 * data.weight, n=5, initial=1000.0, orders=orders
    )
    for row, order in enumerate(orders):
        shuffled = PairwiseData.from_arrays(
            models=data.models,
            a=data.a[order],
            b=data.b[order],
            win_a=data.win_a[order],
            win_b=data.win_b[order],
            tie=data.tie[order],
        )
        np.testing.assert_allclose(
            passes[row], reference_elo(shuffled, k=16.0, initial=1000.0), atol=1e-9
        )
