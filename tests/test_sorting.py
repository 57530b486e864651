"""Sorting-based Best-of-N ranking: batched, cached merge sort with a pairwise judge."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit.errors import ConfigError
from judgekit.judges.fakes import ScriptedJudge
from judgekit.runs.listwise import rank_best_of_n
from judgekit.runs.sorting import PairCache, SortStats, fuse_rankings, merge_sort, sort_ranking
from judgekit.types import JudgeRequest, JudgeResponse


class Counting:
    """A perfect comparator over known values that records every batch it is asked."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = values
        self.batches: list[list[tuple[int, int]]] = []

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        self.batches.append(list(pairs))
        return [
            1.0
            if self.values[a] > self.values[b]
            else 0.0
            if self.values[a] < self.values[b]
            else 0.5
            for a, b in pairs
        ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=40))
def test_merge_sort_sorts_with_few_comparisons_in_few_batches(values: list[float]) -> None:
    compare = Counting(values)
    stats = SortStats()
    order = merge_sort(list(range(len(values))), compare, stats=stats)
    assert sorted(order) == list(range(len(values)))
    assert [values[i] for i in order] == sorted(values, reverse=True)
    n = len(values)
    assert stats.comparisons <= n * max(1, math.ceil(math.log2(max(n, 2))))
    # The merges of a level share batches: a level costs at most its longest merge's length
    # minus one, far fewer than one call per comparison (under 2n when n is a power of two).
    bound, size = 0, 1
    while size < n:
        bound += min(2 * size, n) - 1
        size *= 2
    assert stats.batches <= bound < 3 * max(n, 1)
    assert all(len(set(b)) == len(b) for b in compare.batches)


def test_one_level_goes_to_the_judge_as_one_batch() -> None:
    compare = Counting([float(v) for v in range(8)])
    merge_sort(list(range(8)), compare)
    # The first level merges four pairs of singletons: four independent comparisons at once.
    assert len(compare.batches[0]) == 4
    assert max(len(b) for b in compare.batches) == 4


def test_ties_keep_the_input_order() -> None:
    compare = Counting([1.0, 1.0, 1.0, 2.0])
    assert merge_sort([2, 0, 1, 3], compare) == [3, 2, 0, 1]


def test_cached_comparisons_are_not_asked_again() -> None:
    values = [float(v) for v in (5, 3, 9, 1, 7, 2)]
    cache = PairCache()
    first = Counting(values)
    merge_sort(list(range(6)), first, cache=cache)
    again = Counting(values)
    stats = SortStats()
    # Same items, same start: every comparison, even asked the other way round, is cached.
    assert merge_sort(list(range(6)), again, cache=cache, stats=stats) == [2, 4, 0, 1, 5, 3]
    assert again.batches == [] and stats.comparisons == 0 and stats.cache_hits > 0
    assert cache.get(1, 0) == 1.0 - cache.get(0, 1)  # type: ignore[operator]


def test_passes_are_fused() -> None:
    assert fuse_rankings([[0, 1, 2], [1, 0, 2], [0, 2, 1]], n=3) == [0, 1, 2]
    values = [0.3, 0.9, 0.1, 0.5]
    outcome = sort_ranking(4, Counting(values), passes=3, seed=1)
    assert outcome.order == [1, 3, 0, 2] and len(outcome.passes) == 3
    assert sort_ranking(4, Counting(values), passes=3, fusion="borda").order == [1, 3, 0, 2]
    with pytest.raises(ConfigError):
        sort_ranking(4, Counting(values), passes=0)


QUALITY = {"r-great": 4, "r-good": 3, "r-fine": 2, "r-poor": 1, "r-bad": 0}


def pairwise_oracle(request: JudgeRequest) -> JudgeResponse:
    """Prefers the better response whichever slot it is in; logprob-style answers."""
    text = request.messages[0].content
    a = re.search(r"RESPONSE A \w+>>>\n(\S+)", text).group(1)  # type: ignore[union-attr]
    b = re.search(r"RESPONSE B \w+>>>\n(\S+)", text).group(1)  # type: ignore[union-attr]
    p_a = 0.9 if QUALITY[a] > QUALITY[b] else 0.1
    return JudgeResponse(text="A", choice_probs={"A": p_a, "B": 1 - p_a - 0.05, "C": 0.05})


def test_best_of_n_ranks_responses_with_the_pairwise_judge(tmp_path: Path) -> None:
    responses = {
        name: f"{name} some text" for name in ("r-fine", "r-bad", "r-great", "r-poor", "r-good")
    }
    judge = ScriptedJudge(pairwise_oracle, supports_logprobs=True)
    db = tmp_path / "bon.duckdb"
    result = rank_best_of_n("Write a haiku.", responses, judge=judge, db=db)
    assert list(result.ranking["name"]) == list(QUALITY) and result.best == "r-great"
    stats = result.stats
    # Each comparison is judged in both orders; far fewer than all 10 pairs get compared.
    assert stats["judge_calls_made"] == 2 * stats["comparisons"] == len(judge.calls)
    assert stats["comparisons"] < stats["comparisons_all_pairs"]
    assert result.comparisons["status"].eq("ok").all()
    again = ScriptedJudge(pairwise_oracle, supports_logprobs=True)
    cached = rank_best_of_n("Write a haiku.", responses, judge=again, db=db)
    assert cached.stats["judge_calls_made"] == 0 and not again.calls
    assert list(cached.ranking["name"]) == list(QUALITY)


def test_best_of_n_takes_a_list_and_survives_failed_comparisons() -> None:
    judge = ScriptedJudge(lambda request: "no verdict here", supports_logprobs=False)
    result = rank_best_of_n("q", ["x", "y", "z"], judge=judge, db=":memory:")
    # Every comparison failed to parse: each counts as a tie, so the shuffled order stands.
    assert sorted(result.ranking["name"]) == ["response-1", "response-2", "response-3"]
    assert result.stats["failed_comparisons"] == result.stats["comparisons"] > 0
    with pytest.raises(ConfigError, match="at least two"):
        rank_best_of_n("q", ["only one"], judge=judge)
