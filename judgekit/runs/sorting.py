"""Sorting-based ranking with a pairwise judge: a batched, cached bottom-up merge sort.

Ranking N responses to one prompt (Best-of-N) needs far fewer than the N(N-1)/2 comparisons
of all pairs: merge sort needs at most ``N log2 N`` (Qin et al. 2024, "Large Language Models
are Effective Text Rankers with Pairwise Ranking Prompting", PRP-Sort). With an LLM judge the
cost is not the number of comparisons but the number of *inferences* and how well they
batch ("Are Optimal Algorithms Still Optimal? Rethinking Sorting in LLM-Based Pairwise
Ranking with Batching and Caching", 2025). So:

- **Batching.** The merges of one level are independent; they advance in lock step, and the
  next comparison of every unfinished merge goes to the judge in one batch. A level costs as
  many batches as its longest merge, and the whole sort fewer than 3N batches (under 2N when
  N is a power of two) instead of N log N sequential calls.
- **Caching.** Every answer is kept in a cache keyed by the ordered pair (a reversed pair
  reads ``1 - p``), shared across levels and passes; the judge behind it has its own
  content-hash cache in the store, so re-running a sort costs no calls at all.

Judges are not transitive and not order-consistent ("LLM-RankFusion: Mitigating Intrinsic
Inconsistency in LLM-based Ranking", 2024), so one sort can be unlucky. ``passes > 1`` sorts
several seeded shuffles of the input and fuses them, as RankFusion aggregates rankers: by
Bradley-Terry on every comparison made (default) or by mean position (Borda). Cached pairs
make later passes cheaper.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from judgekit.errors import ConfigError
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.types import Outcome

VerdictChoice = Literal["auto", "logprobs", "generate"]

CompareBatch = Callable[[Sequence[tuple[int, int]]], Sequence[float]]
"""Judge a batch of ordered pairs ``(a, b)``: for each, the probability (or score) that
``a`` is better than ``b``; 0.5 is a tie."""


@dataclass
class SortStats:
    """What sorting cost: comparisons asked of the judge, batches, and cache hits."""

    comparisons: int = 0
    batches: int = 0
    cache_hits: int = 0
    batch_sizes: list[int] = field(default_factory=list)


@dataclass
class _Merge:
    left: list[int]
    right: list[int]
    i: int = 0
    j: int = 0
    out: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.i >= len(self.left) or self.j >= len(self.right)

    def finish(self) -> list[int]:
        return self.out + self.left[self.i :] + self.right[self.j :]


class PairCache:
    """Answers of the judge by ordered pair; ``(b, a)`` is read as ``1 - p(a, b)``."""

    def __init__(self) -> None:
        self.scores: dict[tuple[int, int], float] = {}

    def get(self, a: int, b: int) -> float | None:
        if (a, b) in self.scores:
            return self.scores[(a, b)]
        if (b, a) in self.scores:
            return 1.0 - self.scores[(b, a)]
        return None

    def put(self, a: int, b: int, score: float) -> None:
        self.scores[(a, b)] = score


def merge_sort(
    items: Sequence[int],
    compare: CompareBatch,
    *,
    cache: PairCache | None = None,
    stats: SortStats | None = None,
) -> list[int]:
    """Sort ``items`` best first with a batched pairwise judge.

    Args:
        items: the indices to sort, in their starting order.
        compare: judges a batch of ordered pairs (see :data:`CompareBatch`).
        cache: answers to reuse and extend (a fresh one if None).
        stats: counters to add to.

    A tie (score exactly 0.5) keeps the left element first, so the sort is stable.
    """
    cache = cache if cache is not None else PairCache()
    stats = stats if stats is not None else SortStats()
    runs = [[x] for x in items]
    while len(runs) > 1:
        merges = [_Merge(runs[k], runs[k + 1]) for k in range(0, len(runs) - 1, 2)]
        carry = [runs[-1]] if len(runs) % 2 else []
        while True:
            wanted: dict[tuple[int, int], None] = {}
            for m in merges:
                # Resolve from the cache as far as it goes; stop at the first unknown pair.
                while not m.done:
                    a, b = m.left[m.i], m.right[m.j]
                    score = cache.get(a, b)
                    if score is None:
                        wanted[(a, b)] = None
                        break
                    stats.cache_hits += 1
                    if score >= 0.5:
                        m.out.append(a)
                        m.i += 1
                    else:
                        m.out.append(b)
                        m.j += 1
            if not wanted:
                break
            pairs = list(wanted)
            scores = compare(pairs)
            if len(scores) != len(pairs):
                raise ConfigError(f"compare returned {len(scores)} scores for {len(pairs)} pairs")
            for (a, b), score in zip(pairs, scores, strict=True):
                cache.put(a, b, float(score))
            # Answers fetched just now are not cache hits; the loop above counts them so.
            stats.cache_hits -= len(pairs)
            stats.comparisons += len(pairs)
            stats.batches += 1
            stats.batch_sizes.append(len(pairs))
        runs = [m.finish() for m in merges] + carry
    return runs[0] if runs else []


@dataclass(frozen=True)
class SortOutcome:
    """The fused ranking, each pass's ranking, and the cost."""

    order: list[int]
    passes: list[list[int]]
    stats: SortStats


def fuse_rankings(rankings: Sequence[Sequence[int]], *, n: int) -> list[int]:
    """Borda fusion: order by mean position over the rankings; ties keep the lower index."""
    total = [0.0] * n
    for ranking in rankings:
        for position, item in enumerate(ranking):
            total[item] += position
    return sorted(range(n), key=lambda x: (total[x], x))


def fuse_comparisons(cache: PairCache, *, n: int) -> list[int]:
    """Order by Bradley-Terry fitted on every comparison in ``cache`` (soft outcomes).

    Later merges compare near neighbours, so the comparisons a sort makes are informative
    beyond the order it outputs; a BT fit uses all of them and no single wrong answer can
    throw an item far, as it can inside one sort.
    """
    from judgekit.rank import PairwiseData, bradley_terry

    pairs = list(cache.scores.items())
    data = PairwiseData.from_arrays(
        models=[str(i) for i in range(n)],
        a=[a for (a, _), _ in pairs],
        b=[b for (_, b), _ in pairs],
        win_a=[score for _, score in pairs],
        win_b=[1.0 - score for _, score in pairs],
        tie=[0.0] * len(pairs),
    )
    rating = bradley_terry(data).rating
    return sorted(range(n), key=lambda x: (-rating[x], x))


def sort_ranking(
    n: int,
    compare: CompareBatch,
    *,
    passes: int = 1,
    seed: int = 0,
    fusion: Literal["bt", "borda"] = "bt",
    cache: PairCache | None = None,
) -> SortOutcome:
    """Rank ``n`` items best first with ``passes`` merge sorts of seeded shuffles, fused.

    The first pass sorts a seeded shuffle too: a judge's position bias then cannot line up
    with the input order. With several passes, ``fusion="bt"`` fits Bradley-Terry on every
    comparison made (:func:`fuse_comparisons`), ``"borda"`` averages the passes' positions.

    Raises:
        ConfigError: ``n < 1`` or ``passes < 1``.
    """
    if n < 1:
        raise ConfigError("nothing to sort")
    if passes < 1:
        raise ConfigError(f"passes must be >= 1, got {passes}")
    cache = cache if cache is not None else PairCache()
    stats = SortStats()
    rng = random.Random(seed)
    results = []
    for _ in range(passes):
        start = list(range(n))
        rng.shuffle(start)
        results.append(merge_sort(start, compare, cache=cache, stats=stats))
    if passes == 1:
        order = results[0]
    elif fusion == "bt":
        order = fuse_comparisons(cache, n=n)
    else:
        order = fuse_rankings(results, n=n)
    return SortOutcome(order=order, passes=results, stats=stats)


# -- Best-of-N with the pairwise judge -----------------------------------------------------------


@dataclass
class BestOfNResult:
    """What :func:`rank_best_of_n` returns."""

    ranking: pd.DataFrame
    """``rank``, ``name``, ``output`` and ``position`` in each pass, best first."""
    comparisons: pd.DataFrame
    """Every comparison made: both orders combined, ``score_a`` = P(a better), flip, status."""
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> str:
        return str(self.ranking.iloc[0]["name"])


def rank_best_of_n(
    prompt: str,
    responses: Sequence[str] | Mapping[str, str],
    *,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = ":memory:",
    passes: int = 1,
    seed: int = 0,
    verdict: VerdictChoice = "auto",
    criteria: str | None = None,
    reference: str | None = None,
    judge_options: JudgeOptions | None = None,
) -> BestOfNResult:
    """Rank N responses to one prompt, best first, by a batched merge sort with the judge.

    Each comparison is judged in both orders and combined (order-free), as in
    :func:`judgekit.compare`; the comparisons of one merge level go to the judge as one
    batch, and answers are cached in memory and in the store (a repeated call is free).

    Args:
        prompt: the prompt the responses answer.
        responses: the responses, as a list (named ``response-1`` ..) or a name -> text map.
        judge: a judge id or a Judge.
        db: the store that caches judge calls (default: in memory).
        passes: merge sorts of differently shuffled inputs, fused by Bradley-Terry on every
            comparison made.
        seed: seed of the shuffles.
        verdict: ``logprobs``, ``generate`` or ``auto``.
        criteria: judging criteria for the pairwise prompt.
        reference: an optional reference answer shown to the judge.
        judge_options: backend options.
    """
    # The pipeline is imported here so that the sort itself stays importable on its own.
    from judgekit.inputs.outputs import prompt_id_for
    from judgekit.judges.registry import get_judge
    from judgekit.plan import Comparison
    from judgekit.protocols.pairwise import PairwiseSpec, plan_requests
    from judgekit.protocols.parse import parse_pairwise
    from judgekit.rank.outcomes import outcomes_frame
    from judgekit.runs.records import combine_verdicts
    from judgekit.runs.runner import EMPTY_STATS, execute
    from judgekit.store.db import open_store
    from judgekit.types import Candidate, Item

    named = dict(responses) if isinstance(responses, Mapping) else {
        f"response-{i + 1}": text for i, text in enumerate(responses)
    }  # fmt: skip
    if len(named) < 2:
        raise ConfigError("Best-of-N ranking needs at least two responses")
    names = list(named)
    judge_obj = get_judge(judge, options=judge_options) if isinstance(judge, str) else judge
    mode = verdict
    if mode == "auto":
        mode = "logprobs" if judge_obj.supports_logprobs else "generate"
    spec = PairwiseSpec(mode=mode, criteria=criteria or PairwiseSpec().criteria)
    pid = prompt_id_for(prompt)
    items = {pid: Item(prompt_id=pid, prompt=prompt, reference=reference)}
    candidates = {pid: {n: Candidate(pid, n, named[n]) for n in names}}
    made: list[Outcome] = []
    totals = [EMPTY_STATS]

    def compare(pairs: Sequence[tuple[int, int]]) -> list[float]:
        comparisons = [Comparison(pid, names[a], names[b]) for a, b in pairs]
        planned = plan_requests(comparisons, items=items, candidates=candidates, spec=spec)
        found, stats = execute([p.request for p in planned], judge=judge_obj, store=store)
        totals[0] = totals[0] + stats
        outcomes = combine_verdicts(planned, [parse_pairwise(r) for r in found], disagreement="tie")
        made.extend(outcomes)
        # A failed comparison counts as a tie, which keeps the merge's current order.
        return [o.score_a if o.status == "ok" else 0.5 for o in outcomes]

    store = open_store(db)
    with store:
        result = sort_ranking(len(names), compare, passes=passes, seed=seed)
    positions = {
        f"position_pass_{p + 1}": [order.index(i) + 1 for i in result.order]
        for p, order in enumerate(result.passes)
    }
    ranking = pd.DataFrame(
        {
            "rank": range(1, len(names) + 1),
            "name": [names[i] for i in result.order],
            "output": [named[names[i]] for i in result.order],
            **positions,
        }
    )
    comparisons = outcomes_frame(made).drop(columns="prompt_id")
    comparisons.insert(5, "score_a", comparisons["win_a"] + 0.5 * comparisons["tie"])
    stats = {
        "n": len(names),
        "passes": passes,
        "comparisons": result.stats.comparisons,
        "batches": result.stats.batches,
        "cache_hits": result.stats.cache_hits,
        "judge_calls_made": totals[0].called,
        "judge_calls_cached": totals[0].cached,
        "failed_comparisons": int((comparisons["status"] != "ok").sum()),
        "comparisons_all_pairs": len(names) * (len(names) - 1) // 2,
    }
    return BestOfNResult(ranking=ranking, comparisons=comparisons, stats=stats)
