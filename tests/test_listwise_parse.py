"""Listwise parsing, permutations and un-permutation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from judgekit.errors import ConfigError
from judgekit.protocols.listwise import permutations, unpermute
from judgekit.protocols.listwise_parse import (
    ListwiseVerdict,
    parse_listwise,
    parse_ranking,
    ranking_from_probs,
)
from judgekit.types import JudgeResponse


@pytest.mark.parametrize(
    ("text", "k", "expected"),
    [
        ("[2] > [1] > [3]", 3, (1, 0, 2)),
        ("Ranking: [3] > [1] > [4] > [2]", 4, (2, 0, 3, 1)),
        ("[2]>[3]>[1]", 3, (1, 2, 0)),
        ("[2] >> [1] >> [3]", 3, (1, 0, 2)),
        ("2 > 3 > 1", 3, (1, 2, 0)),
        ("[2], [3], [1]", 3, (1, 2, 0)),
        ("[2] [3] [1]", 3, (1, 2, 0)),
        ("Response 3 > Response 1 > Response 2", 3, (2, 0, 1)),
        ("Assistant B > Assistant A > Assistant C", 3, (1, 0, 2)),
        ("[B] > [C] > [A]", 3, (1, 2, 0)),
        ("[2, 3, 1]", 3, (1, 2, 0)),
        ('{"ranking": [3, 1, 2]}', 3, (2, 0, 1)),
        ('```json\n["[2]", "[1]", "[3]"]\n```', 3, (1, 0, 2)),
        ('Here you go: {"order": ["Response 2", "Response 3", "Response 1"]}', 3, (1, 2, 0)),
        ("1. [3] is clearly best\n2. [1] is fine\n3. [2] is wrong", 3, (2, 0, 1)),
        ("- Response 2\n- Response 1\n- Response 3", 3, (1, 0, 2)),
        # Rationale first, final ranking last: the last chain counts.
        (
            "[1] looks good at first, but [2] is better.\nFinal ranking: [2] > [1] > [3]",
            3,
            (1, 0, 2),
        ),
        ("Draft: [1] > [2] > [3]\nOn reflection: [3] > [2] > [1]", 3, (2, 1, 0)),
        # K - 1 candidates imply the last one.
        ("[3] > [1]", 3, (2, 0, 1)),
    ],
)
def test_ranking_shapes(text: str, k: int, expected: tuple[int, ...]) -> None:
    assert parse_ranking(text, k=k) == expected


@pytest.mark.parametrize(
    ("text", "k", "reason"),
    [
        ("I cannot decide between them.", 3, "no ranking found"),
        ("", 3, "empty response"),
        ("[2] > [2] > [1]", 3, "ranked twice"),
        ("[5] > [1] > [2]", 3, "outside 1..3"),
        ("[4] > [1]", 4, "incomplete ranking: 2 of 4"),
        # Bare numbers joined by commas are prose, not a ranking.
        ("I checked steps 1, 2 and 3.", 3, "no ranking found"),
    ],
)
def test_unparseable_rankings_give_reasons(text: str, k: int, reason: str) -> None:
    result = parse_ranking(text, k=k)
    assert isinstance(result, str) and reason in result


def test_names_given_by_the_caller_are_labels() -> None:
    names = {"model-x": 0, "model-y": 1, "model-z": 2}
    assert parse_ranking("model-z > model-x > model-y", k=3, names=names) == (2, 0, 1)


def test_parse_failures_and_judge_errors_are_data() -> None:
    verdict = parse_listwise(JudgeResponse(text="they are all great"), k=3)
    assert verdict.status == "parse_error"
    assert verdict.raw == "they are all great" and verdict.error == "no ranking found"
    error = parse_listwise(JudgeResponse(status="error", error="HTTP 500"), k=3)
    assert error.status == "judge_error" and error.error == "HTTP 500"


def test_logprob_verdict_stores_first_choice_probabilities() -> None:
    response = JudgeResponse(text="2", choice_probs={"1": 0.2, "2": 0.5, "3": 0.1})
    verdict = parse_listwise(response, k=3)
    assert verdict.status == "ok" and not verdict.discrete
    assert verdict.first_probs == pytest.approx((0.25, 0.625, 0.125))
    assert verdict.ranking == (1, 0, 2)


def test_text_continuation_of_the_assistant_prefix_is_parsed() -> None:
    # A judge without logprobs answers a logprob-style request as a continuation of
    # "Ranking: [" ; the parser reads it together with the prefix.
    verdict = parse_listwise(JudgeResponse(text="3] > [1] > [2]"), k=3, prefix="Ranking: [")
    assert verdict.ranking == (2, 0, 1)


def test_ranking_from_probs_is_the_order_of_the_probabilities() -> None:
    assert ranking_from_probs([0.1, 0.6, 0.3]) == (1, 2, 0)
    assert ranking_from_probs([0.5, 0.5]) == (0, 1)  # exact ties keep the shown order


def test_cyclic_shifts_form_a_latin_square() -> None:
    orders = permutations(4, 4, scheme="cyclic")
    assert orders[0] == (0, 1, 2, 3)
    for slot in range(4):
        assert sorted(order[slot] for order in orders) == [0, 1, 2, 3]
    assert permutations(4, 2, scheme="cyclic") == [(0, 1, 2, 3), (2, 3, 0, 1)]


def test_random_permutations_are_seeded_distinct_and_per_list() -> None:
    a = permutations(5, 4, scheme="random", seed=3, key="p1/0")
    assert a == permutations(5, 4, scheme="random", seed=3, key="p1/0")
    assert len(set(a)) == 4 and all(sorted(o) == list(range(5)) for o in a)
    assert a != permutations(5, 4, scheme="random", seed=3, key="p2/0")
    assert a != permutations(5, 4, scheme="random", seed=4, key="p1/0")


def test_impossible_permutation_requests_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="cyclic"):
        permutations(3, 4, scheme="cyclic")
    with pytest.raises(ConfigError, match="only 2 orders"):
        permutations(2, 3, scheme="random")


def test_unpermute_maps_slots_back_to_candidates() -> None:
    # Candidates (a, b, c) shown as [c, a, b]: order[slot] = candidate index.
    order = (2, 0, 1)
    verdict = ListwiseVerdict(status="ok", ranking=(1, 2, 0), first_probs=(0.2, 0.7, 0.1))
    ranking, probs = unpermute(verdict, order)
    assert ranking == (0, 1, 2)  # slot 2 held a, slot 3 held b, slot 1 held c
    assert probs == (0.7, 0.1, 0.2)


@given(st.permutations(list(range(5))), st.permutations(list(range(5))))
def test_unpermute_inverts_any_presentation(order: list[int], truth: list[int]) -> None:
    # A judge that sees the candidates in ``order`` and ranks them by ``truth`` answers in
    # slot terms; un-permuting recovers ``truth`` whatever the order was.
    slot_of = {candidate: slot for slot, candidate in enumerate(order)}
    text = " > ".join(f"[{slot_of[c] + 1}]" for c in truth)
    verdict = parse_listwise(JudgeResponse(text=text), k=5)
    assert unpermute(verdict, tuple(order))[0] == tuple(truth)


def test_every_ranking_of_three_round_trips_through_text() -> None:
    for ranking in itertools.permutations(range(3)):
        text = " > ".join(f"[{p + 1}]" for p in ranking)
        assert parse_ranking(text, k=3) == ranking
