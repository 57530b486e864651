"""Hypothesis properties of Bradley-Terry (and Plackett-Luce on rankings)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit.rank import PairwiseData, RankingData, bradley_terry, plackett_luce

OUTCOMES = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int]]]:
    """A round robin (one win each way per pair, so every MLE exists) plus random battles."""
    k = draw(st.integers(3, 6))
    base = [(i, j, o) for i in range(k) for j in range(i + 1, k) for o in (0, 1)]
    extra = draw(
        st.lists(
            st.tuples(st.integers(0, k - 1), st.integers(1, k - 1), st.integers(0, 2)),
            max_size=25,
        )
    )
    return k, base + [(a, (a + step) % k, o) for a, step, o in extra]


def build(k: int, rows: list[tuple[int, int, int]], names: list[str] | None = None):
    names = names or [f"m{i}" for i in range(k)]
    return PairwiseData.from_arrays(
        models=names,
        a=[r[0] for r in rows],
        b=[r[1] for r in rows],
        win_a=[OUTCOMES[r[2]][0] for r in rows],
        win_b=[OUTCOMES[r[2]][1] for r in rows],
        tie=[OUTCOMES[r[2]][2] for r in rows],
    )


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(comparisons(), st.randoms(use_true_random=False), st.sampled_from(["half", "davidson"]))
def test_relabelling_models_permutes_ratings(case, random, ties: str) -> None:
    k, rows = case
    perm = list(range(k))
    random.shuffle(perm)  # model i becomes model perm[i]
    original = bradley_terry(build(k, rows), ties=ties)
    relabelled_rows = [(perm[a], perm[b], o) for a, b, o in rows]
    relabelled = bradley_terry(build(k, relabelled_rows), ties=ties)
    for i in range(k):
        assert abs(relabelled.rating[perm[i]] - original.rating[i]) < 1e-6


@FAST
@given(comparisons(), st.randoms(use_true_random=False), st.sampled_from(["half", "rao-kupper"]))
def test_order_of_comparisons_does_not_matter(case, random, ties: str) -> None:
    k, rows = case
    shuffled = list(rows)
    random.shuffle(shuffled)
    # Swapping the slots of a battle (and its outcome) is the same comparison too.
    swapped = [(b, a, {0: 1, 1: 0, 2: 2}[o]) for a, b, o in shuffled]
    r1 = bradley_terry(build(k, rows), ties=ties)
    r2 = bradley_terry(build(k, swapped), ties=ties)
    np.testing.assert_allclose(r1.rating, r2.rating, atol=1e-6)


@FAST
@given(comparisons(), st.data())
def test_an_extra_win_never_lowers_the_winner(case, data) -> None:
    k, rows = case
    winner = data.draw(st.integers(0, k - 1))
    loser = (winner + data.draw(st.integers(1, k - 1))) % k
    before = bradley_terry(build(k, rows))
    after = bradley_terry(build(k, rows + [(winner, loser, 0)]))
    assert after.rating[winner] >= before.rating[winner] - 1e-7
    assert after.rating[loser] <= before.rating[loser] + 1e-7


@FAST
@given(
    st.lists(st.permutations(range(4)), min_size=8, max_size=30),
    st.randoms(use_true_random=False),
)
def test_plackett_luce_ignores_the_order_of_rankings(rankings, random) -> None:
    base = [(0, 1, 2, 3), (3, 2, 1, 0), (1, 3, 0, 2), (2, 0, 3, 1)]  # every model wins once
    rows = base + [tuple(r) for r in rankings]
    shuffled = list(rows)
    random.shuffle(shuffled)
    names = ("a", "b", "c", "d")
    r1 = plackett_luce(RankingData(models=names, rankings=tuple(rows)))
    r2 = plackett_luce(RankingData(models=names, rankings=tuple(shuffled)))
    np.testing.assert_allclose(r1.rating, r2.rating, atol=1e-4)
