"""Batch formation of in-process judges: token budgets, padding accounting, prefix groups."""

from __future__ import annotations

import random

import pytest

from judgekit.judges.batching import (
    PrefixGroup,
    budget_batches,
    judged_batches,
    padding_report,
    prefix_groups,
)
from judgekit.types import JudgeRequest, JudgeResponse, Message


def _mixed_lengths(n: int, seed: int = 0) -> list[int]:
    """Prompt lengths as a judging plan has them: short and long answers mixed, in plan order."""
    rng = random.Random(seed)
    return [rng.choice([150, 300, 600]) + rng.randint(0, 400) for _ in range(n)]


def test_padding_report_counts_rows_times_width() -> None:
    lengths = [3, 5, 2, 5]
    report = padding_report([[0, 1], [2, 3]], lengths)
    # Forward: 2 x 5 + 2 x 5 = 20 positions; real tokens 15, so 5 are padding.
    assert (report.real, report.forward, report.padding) == (15, 20, 5)
    assert report.padding_share == pytest.approx(0.25)
    assert padding_report([], []).padding_share == 0.0


def test_budget_batches_cover_every_index_once_and_respect_the_budget() -> None:
    lengths = _mixed_lengths(500)
    batches = budget_batches(lengths, max_tokens=4096)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 4096
    rows = budget_batches(lengths, max_tokens=10**9, max_rows=7)
    assert max(len(b) for b in rows) == 7


def test_global_length_sorting_pads_far_less_than_fixed_chunks_in_plan_order() -> None:
    lengths = _mixed_lengths(2000, seed=1)
    fixed = padding_report([list(range(i, min(i + 8, 2000))) for i in range(0, 2000, 8)], lengths)
    sorted_ = padding_report(budget_batches(lengths, max_tokens=4096), lengths)
    assert fixed.padding_share > 0.2  # the old scheme: about a quarter is padding here
    assert sorted_.padding_share <= 0.05
    assert sorted_.real == fixed.real


def test_a_sequence_longer_than_the_budget_gets_a_batch_of_its_own() -> None:
    assert budget_batches([10, 9000, 12], max_tokens=100) == [[1], [2, 0]]
    with pytest.raises(ValueError, match="max_tokens"):
        budget_batches([1], max_tokens=0)


def test_unpadded_budget_sums_lengths() -> None:
    batches = budget_batches([40, 30, 30, 20], max_tokens=70, padded=False)
    assert batches == [[0, 1], [2, 3]]


def test_prefix_groups_follow_the_prompts_and_save_the_most_tokens() -> None:
    head = list(range(100, 140))  # the template head: shared by every prompt
    seqs = []
    truth = []
    for prompt in range(5):
        question = [1000 + prompt] * 30
        for answer in range(6):
            seqs.append([*head, *question, *([2000 + 7 * prompt + answer] * (20 + answer))])
            truth.append(prompt)
    random.Random(0).shuffle(order := list(range(len(seqs))))
    seqs = [seqs[i] for i in order]
    truth = [truth[i] for i in order]
    groups = prefix_groups(seqs, min_prefix=16)
    assert sorted(i for g in groups for i in g.members) == list(range(len(seqs)))
    # One group per prompt, each sharing head + question (70 tokens).
    assert len(groups) == 5
    for group in groups:
        assert group.prefix_len == 70
        assert len({truth[i] for i in group.members}) == 1
        for i in group.members:
            assert seqs[i][:70] == seqs[group.members[0]][:70]


def test_prefix_groups_keep_a_token_of_each_member_and_skip_short_prefixes() -> None:
    same = [[1, 2, 3, 4], [1, 2, 3, 4]]
    [group] = prefix_groups(same, min_prefix=2)
    assert group.prefix_len == 3  # not 4: each member must run at least its last token
    apart = prefix_groups([[1, 2, 9], [1, 2, 8], [5, 6, 7]], min_prefix=16)
    assert all(g.prefix_len == 0 for g in apart)
    assert prefix_groups([]) == []
    assert PrefixGroup(0, (1,)).members == (1,)


class _Counting:
    id = "count/x"
    batch_size = 3
    supports_logprobs = False

    def __init__(self) -> None:
        self.calls: list[int] = []

    def judge(self, requests: list[JudgeRequest]) -> list[JudgeResponse]:
        self.calls.append(len(requests))
        return [JudgeResponse(text=r.messages[0].content) for r in requests]


class _Streaming(_Counting):
    def judge_batches(self, requests: list[JudgeRequest]):  # type: ignore[no-untyped-def]
        order = sorted(range(len(requests)), key=lambda i: len(requests[i].messages[0].content))
        for start in range(0, len(order), 2):
            rows = order[start : start + 2]
            self.calls.append(len(rows))
            yield [(i, JudgeResponse(text=requests[i].messages[0].content)) for i in rows]


def _todo(n: int) -> list[tuple[str, JudgeRequest]]:
    return [(f"h{i}", JudgeRequest(messages=(Message("user", "x" * (n - i)),))) for i in range(n)]


def test_judged_batches_uses_fixed_chunks_or_the_judges_own_batches() -> None:
    todo = _todo(7)
    plain = _Counting()
    got = list(judged_batches(plain, todo))
    assert plain.calls == [3, 3, 1]
    for batch, responses in got:
        assert [r.text for r in responses] == [req.messages[0].content for _, req in batch]

    streaming = _Streaming()
    got = list(judged_batches(streaming, todo))
    assert streaming.calls == [2, 2, 2, 1]
    seen = [h for batch, _ in got for h, _ in batch]
    assert sorted(seen) == sorted(h for h, _ in todo)
    assert seen[0] == "h6"  # the shortest first: the judge's order, not the plan's
    for batch, responses in got:
        assert [r.text for r in responses] == [req.messages[0].content for _, req in batch]
