"""Bradley-Terry: hand-computed cases, tie models, soft outcomes, weights, anchors, graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judgekit.errors import ConfigError, InputError
from judgekit.rank import (
    PairwiseData,
    bradley_terry,
    ci_aware_rank,
    ratings_frame,
    simulate_pairwise,
)
from judgekit.rank.scale import ELO_PER_NAT
from judgekit.rank.ties import pair_terms
from judgekit.types import Ratings

ABC = ("A", "B", "C")


def elo_of(strengths: list[float]) -> np.ndarray:
    """Mean-1000 Elo ratings of strengths π (not logs)."""
    r = 400 * np.log10(np.asarray(strengths, dtype=float))
    return r - r.mean() + 1000


def test_three_players_half_ties_hand_computed() -> None:
    # Observed wins equal their expectation under π = (4, 2, 1): A-B 2:1, B-C 2:1, A-C 4:1,
    # so the likelihood equations hold exactly at π.
    data = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 2, 1, 0), (1, 2, 2, 1, 0), (0, 2, 4, 1, 0)]
    )
    r = bradley_terry(data)
    np.testing.assert_allclose(r.rating, elo_of([4, 2, 1]), atol=1e-6)
    assert r.rating == pytest.approx((1120.412, 1000.0, 879.588), abs=1e-3)
    assert r.method == "bt" and r.extras["converged"]
    assert r.identifiable == (True, True, True)


def test_three_players_davidson_hand_computed() -> None:
    # Davidson with π = (16, 4, 1), ν = 1: A-B and B-C win/lose/tie 4/1/2; A-C 16/1/4.
    data = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 4, 1, 2), (1, 2, 4, 1, 2), (0, 2, 16, 1, 4)]
    )
    r = bradley_terry(data, ties="davidson")
    np.testing.assert_allclose(r.rating, elo_of([16, 4, 1]), atol=1e-5)
    assert r.extras["tie_parameter"]["nu"] == pytest.approx(1.0, abs=1e-7)
    assert r.method == "bt-davidson"


def test_three_players_rao_kupper_hand_computed() -> None:
    # Rao-Kupper with π = (4, 2, 1), θ = 2: P(i>j) = π_i / (π_i + θ π_j).
    # A-B: 1/2, 1/5, 3/10 -> 5/2/3; B-C the same; A-C: 2/3, 1/9, 2/9 -> 6/1/2.
    data = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 5, 2, 3), (1, 2, 5, 2, 3), (0, 2, 6, 1, 2)]
    )
    r = bradley_terry(data, ties="rao-kupper")
    np.testing.assert_allclose(r.rating, elo_of([4, 2, 1]), atol=1e-5)
    assert r.extras["tie_parameter"]["theta"] == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize("ties", ["half", "davidson", "rao-kupper"])
def test_pair_terms_match_finite_differences(ties: str) -> None:
    rng = np.random.default_rng(1)
    stats = rng.uniform(0, 5, size=(9, 3))
    d = rng.normal(0, 2, 9)
    eta, eps = 0.3, 1e-5
    t = pair_terms(ties, d, eta=eta, stats=stats)

    def at(dd: np.ndarray, ee: float):  # noqa: ANN202
        return pair_terms(ties, dd, eta=ee, stats=stats)

    np.testing.assert_allclose(
        (at(d + eps, eta).ll - at(d - eps, eta).ll) / (2 * eps), t.g_d, atol=1e-6
    )
    np.testing.assert_allclose(
        (at(d + eps, eta).g_d - at(d - eps, eta).g_d) / (2 * eps), t.h_dd, atol=1e-6
    )
    if ties != "half":
        up, down = at(d, eta + eps), at(d, eta - eps)
        np.testing.assert_allclose((up.ll - down.ll) / (2 * eps), t.g_eta, atol=1e-6)
        np.testing.assert_allclose((up.g_eta - down.g_eta) / (2 * eps), t.h_etaeta, atol=1e-6)
        np.testing.assert_allclose((up.g_d - down.g_d) / (2 * eps), t.h_deta, atol=1e-6)


@pytest.mark.parametrize("ties", ["half", "davidson", "rao-kupper"])
def test_soft_outcomes_equal_their_hard_counts(ties: str) -> None:
    # Ten soft comparisons of 0.7 / 0.2 / 0.1 carry the same likelihood as 7 wins, 2 losses
    # and a tie, whatever the tie model.
    hard = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 7, 2, 1), (1, 2, 5, 4, 1), (2, 0, 3, 6, 1)]
    )
    soft_rows = [(0, 1, 0.7, 0.2, 0.1), (1, 2, 0.5, 0.4, 0.1), (2, 0, 0.3, 0.6, 0.1)]
    rows = [r for r in soft_rows for _ in range(10)]
    soft = PairwiseData.from_arrays(
        models=ABC,
        a=[r[0] for r in rows],
        b=[r[1] for r in rows],
        win_a=[r[2] for r in rows],
        win_b=[r[3] for r in rows],
        tie=[r[4] for r in rows],
    )
    r_hard = bradley_terry(hard, ties=ties)
    r_soft = bradley_terry(soft, ties=ties)
    np.testing.assert_allclose(r_soft.rating, r_hard.rating, atol=1e-6)
    assert r_soft.extras["tie_parameter"] == pytest.approx(r_hard.extras["tie_parameter"])


def test_weight_counts_like_copies() -> None:
    # arena-hard's "A>>B counts 3": a weight of 3 is three identical comparisons.
    weighted = PairwiseData.from_arrays(
        models=ABC,
        a=[0, 1, 2, 0],
        b=[1, 2, 0, 2],
        win_a=[1, 1, 1, 0],
        win_b=[0, 0, 0, 1],
        tie=[0, 0, 0, 0],
        weight=[3, 1, 1, 2],
    )
    copies = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 3, 0, 0), (1, 2, 1, 0, 0), (2, 0, 1, 0, 0), (0, 2, 0, 2, 0)]
    )
    np.testing.assert_allclose(
        bradley_terry(weighted).rating, bradley_terry(copies).rating, atol=1e-8
    )


def test_anchor_named_model_and_mean() -> None:
    data = PairwiseData.from_counts(
        models=ABC, counts=[(0, 1, 2, 1, 0), (1, 2, 2, 1, 0), (0, 2, 4, 1, 0)]
    )
    base = np.array(bradley_terry(data).rating)
    assert base.mean() == pytest.approx(1000.0)
    at_b = np.array(bradley_terry(data, anchor="B").rating)
    np.testing.assert_allclose(at_b, base - base[1] + 1000.0, atol=1e-9)
    at_c = bradley_terry(data, anchor=("C", 1200.0), ci="sandwich")
    assert at_c.rating[2] == pytest.approx(1200.0)
    # The anchored model's interval has no width: the scale is defined by it.
    assert at_c.ci_low[2] == pytest.approx(1200.0) and at_c.ci_high[2] == pytest.approx(1200.0)
    with pytest.raises(ConfigError, match="anchor model"):
        bradley_terry(data, anchor="Z")


def test_star_graph_matches_closed_form_and_converges() -> None:
    # Every model only meets the baseline, which always sits in slot a. Each leaf's MLE is
    # then the logit of its score against the baseline, which MM iterations reach slowly.
    strengths = np.linspace(-2.0, 2.0, 40)
    data = simulate_pairwise(strengths, n=40_000, seed=3, tie_share=0.2, star=True)
    r = bradley_terry(data)
    assert r.extras["converged"] and r.extras["grad_norm"] < 1e-9
    rating = np.array(r.rating)
    score_b = data.win_b + 0.5 * data.tie  # the leaf's score
    for leaf in (1, 7, 23, 39):
        rows = data.b == leaf
        s = score_b[rows].mean()
        expected = ELO_PER_NAT * math.log(s / (1 - s))
        assert rating[leaf] - rating[0] == pytest.approx(expected, abs=1e-6)


def test_disconnected_graph_is_regularised_and_flagged() -> None:
    # Two groups that never meet: their relative level is not identifiable.
    data = PairwiseData.from_counts(
        models=("A", "B", "C", "D", "E"),
        counts=[(0, 1, 5, 3, 1), (1, 2, 4, 4, 0), (0, 2, 6, 2, 0), (3, 4, 3, 2, 1)],
    )
    r = bradley_terry(data, bootstrap=50)
    assert all(math.isfinite(x) for x in r.rating + r.ci_low + r.ci_high)
    assert r.identifiable == (True, True, True, False, False)
    assert r.extras["reg"] > 0 and not r.extras["strongly_connected"]
    assert "not connected" in r.extras["not_identifiable"]["D"]
    with pytest.raises(ConfigError, match="strongly connected"):
        bradley_terry(data, reg=0)


def test_undefeated_winless_and_single_row_models_are_flagged_not_nan() -> None:
    data = PairwiseData.from_counts(
        models=("A", "B", "C", "Top", "Bottom", "Once"),
        counts=[
            (0, 1, 3, 2, 1),
            (1, 2, 3, 2, 0),
            (0, 2, 2, 2, 1),
            (3, 0, 4, 0, 0),
            (3, 1, 2, 0, 0),  # Top never loses
            (4, 2, 0, 3, 0),
            (4, 1, 0, 2, 0),  # Bottom never wins
            (5, 0, 0, 0, 1),  # Once: a single tie
        ],
    )
    r = bradley_terry(data, bootstrap=30)
    values = np.array(r.rating + r.ci_low + r.ci_high)
    assert np.all(np.isfinite(values))
    reasons = r.extras["not_identifiable"]
    assert reasons["Top"].startswith("never lost")
    assert reasons["Bottom"].startswith("never won")
    assert reasons["Once"] == "only one comparison"
    assert r.identifiable == (True, True, True, False, False, False)
    rating = dict(zip(r.models, r.rating, strict=True))
    assert rating["Top"] > max(rating["A"], rating["B"], rating["C"]) > rating["Bottom"]


def test_sandwich_and_bootstrap_standard_errors_agree() -> None:
    data = simulate_pairwise(np.linspace(-1, 1, 8), n=20_000, seed=11, tie_share=0.3)
    sandwich = bradley_terry(data, ci="sandwich")
    boot = bradley_terry(data, bootstrap=400, seed=2)
    np.testing.assert_allclose(sandwich.rating, boot.rating)
    se_s, se_b = np.array(sandwich.extras["se"]), np.array(boot.extras["se"])
    np.testing.assert_allclose(se_b, se_s, rtol=0.2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ties": "draws"}, "ties must be one of"),
        ({"bootstrap": -1}, "bootstrap must be"),
        ({"ci": "bootstrap"}, "needs bootstrap > 0"),
        ({"ci": "bayes"}, "ci must be"),
        ({"reg": -1.0}, "reg must be"),
        ({"level": 1.5}, "level must be"),
        ({"bootstrap": 5, "resample": "jackknife"}, "resample must be"),
    ],
)
def test_bad_options_raise_config_error(options: dict, message: str) -> None:
    data = PairwiseData.from_counts(models=ABC, counts=[(0, 1, 2, 1, 0), (1, 2, 2, 1, 0)])
    with pytest.raises(ConfigError, match=message):
        bradley_terry(data, **options)


def test_tie_model_on_all_ties_is_a_config_error() -> None:
    data = PairwiseData.from_counts(models=ABC, counts=[(0, 1, 0, 0, 3), (1, 2, 0, 0, 2)])
    with pytest.raises(ConfigError, match="every comparison is a tie"):
        bradley_terry(data, ties="davidson")
    # Half ties need no tie parameter: everyone is equal.
    np.testing.assert_allclose(bradley_terry(data).rating, [1000.0] * 3, atol=1e-9)


def test_bad_arrays_raise_input_error() -> None:
    with pytest.raises(InputError, match="cannot battle itself"):
        PairwiseData.from_arrays(models=ABC, a=[0], b=[0], win_a=[1], win_b=[0], tie=[0])
    with pytest.raises(InputError, match="must be a finite number"):
        PairwiseData.from_arrays(models=ABC, a=[0], b=[1], win_a=[-1], win_b=[0], tie=[0])
    with pytest.raises(InputError, match="must be positive"):
        PairwiseData.from_arrays(models=ABC, a=[0], b=[1], win_a=[0], win_b=[0], tie=[0])
    with pytest.raises(InputError, match="no comparisons"):
        PairwiseData.from_arrays(models=ABC, a=[], b=[], win_a=[], win_b=[], tie=[])


def test_ci_aware_rank_hand_case() -> None:
    # A is clearly above B and C; B and C overlap, so they share rank 2; D is below all.
    low = [1100, 1000, 990, 800]
    high = [1200, 1060, 1050, 900]
    assert ci_aware_rank(low, high) == [1, 2, 2, 4]


def test_ratings_frame_sorts_and_ranks() -> None:
    r = Ratings(
        models=("x", "y", "z"),
        rating=(990.0, 1020.0, 990.0),
        method="bt",
        ci_low=(950.0, 1000.0, 980.0),
        ci_high=(995.0, 1040.0, 999.0),
    )
    frame = ratings_frame(r)
    assert list(frame.columns) == ["rank", "model", "rating", "ci_low", "ci_high", "identifiable"]
    assert list(frame["model"]) == ["y", "x", "z"]
    assert list(frame["rank"]) == [1, 2, 2]
    assert frame["identifiable"].all()
    no_ci = ratings_frame(
        Ratings(models=("x", "y", "z"), rating=(990.0, 1020.0, 990.0), method="elo")
    )
    assert list(no_ci["rank"]) == [1, 2, 2] and no_ci["ci_low"].isna().all()
