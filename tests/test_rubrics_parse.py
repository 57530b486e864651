"""Parsers for scores, YES/NO answers and checklists: every output shape, and failures as data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from judgekit.protocols.checklist import checklist_reply, plan_generation
from judgekit.rubrics.model import Criterion, Scale
from judgekit.rubrics.parse import (
    Parsed,
    ParseFailure,
    expected_score,
    feedback_text,
    parse_checklist,
    parse_score,
    parse_scores,
    parse_yes_no,
    yes_probability,
)
from judgekit.types import Item, JudgeResponse

FIVE = Scale(min=1, max=5)


def _text(text: str) -> JudgeResponse:
    return JudgeResponse(text=text)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Feedback: clear and correct. [RESULT] 4", 4.0),
        ("The answer is fine.\n[RESULT]: 3", 3.0),
        ("[RESULT] 2 ... later [RESULT] 5", 5.0),
        ("Score: 4", 4.0),
        ("**Score:** 2", 2.0),
        ("I would give it a score of 3.", 3.0),
        ("Rating = 5", 5.0),
        ("The overall score is 1", 1.0),
        ("4/5", 4.0),
        ("It deserves 3 out of 5.", 3.0),
        ("Solid answer overall: **4**", 4.0),
        ("4", 4.0),
        ("  5.  ", 5.0),
        ("Score: 3.5", 3.5),
        ("Score 1: bad. Score 5: great. Overall it is 4/5.", 4.0),
    ],
)
def test_score_shapes(text: str, score: float) -> None:
    parsed = parse_score(_text(text), scale=FIVE)
    assert isinstance(parsed, Parsed), parsed
    assert parsed.value == score and parsed.raw == text and parsed.distribution is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty response"),
        ("   ", "empty response"),
        ("A thoughtful, well organised reply.", "no score found"),
        ("[RESULT] 7", "outside the scale 1-5"),
        ("Score: 0", "outside the scale"),
        ("8/10", "no score found"),
        ("**3** or **4**", "no score found"),
    ],
)
def test_unparseable_scores_are_failures_with_raw_text(text: str, error: str) -> None:
    parsed = parse_score(_text(text), scale=FIVE)
    assert isinstance(parsed, ParseFailure)
    assert parsed.status == "parse_error" and parsed.raw == text and error in parsed.error


def test_judge_error_is_a_failure_not_an_exception() -> None:
    parsed = parse_score(JudgeResponse(status="error", error="timeout"), scale=FIVE)
    assert isinstance(parsed, ParseFailure)
    assert parsed.status == "judge_error" and parsed.error == "timeout"


def test_expected_score_equals_the_hand_computed_expectation() -> None:
    probs = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.25, "5": 0.15}
    parsed = parse_score(JudgeResponse(text="3", choice_probs=probs), scale=FIVE)
    assert isinstance(parsed, Parsed)
    # 1*.1 + 2*.2 + 3*.3 + 4*.25 + 5*.15 = 3.15
    assert parsed.value == pytest.approx(3.15)
    assert parsed.distribution == pytest.approx(probs)


def test_expected_score_renormalises_and_ignores_labels_outside_the_scale() -> None:
    parsed = expected_score({"0": 0.5, "3": 0.2, "5": 0.2, "junk": 0.1}, Scale(min=3, max=5))
    assert isinstance(parsed, Parsed)
    assert parsed.value == pytest.approx(4.0)  # 3 * .5 + 5 * .5
    assert parsed.distribution == pytest.approx({"3": 0.5, "4": 0.0, "5": 0.5})


def test_zero_probability_on_every_label_falls_back_to_the_text() -> None:
    response = JudgeResponse(text="[RESULT] 2", choice_probs={"1": 0.0, "5": 0.0})
    parsed = parse_score(response, scale=FIVE)
    assert isinstance(parsed, Parsed) and parsed.value == 2.0
    assert isinstance(expected_score({"1": 0.0}, FIVE), ParseFailure)


@given(
    low=st.integers(-3, 5),
    width=st.integers(1, 9),
    weights=st.lists(st.floats(0.0, 10.0), min_size=10, max_size=10),
)
def test_expected_score_is_a_weighted_mean_inside_the_scale(
    low: int, width: int, weights: list[float]
) -> None:
    scale = Scale(min=low, max=low + width)
    probs = {label: weights[i] for i, label in enumerate(scale.labels)}
    parsed = expected_score(probs, scale)
    total = sum(probs.values())
    if total == 0:
        assert isinstance(parsed, ParseFailure)
        return
    assert isinstance(parsed, Parsed)
    hand = sum(int(label) * w for label, w in probs.items()) / total
    assert parsed.value == pytest.approx(hand)
    assert scale.min - 1e-9 <= parsed.value <= scale.max + 1e-9
    assert sum(parsed.distribution.values()) == pytest.approx(1.0)  # type: ignore[union-attr]


def test_feedback_text_is_the_part_before_the_result() -> None:
    assert feedback_text("Feedback: Good job. [RESULT] 4") == "Good job."
    assert feedback_text("No result marker") == "No result marker"


CRITERIA = [
    Criterion(id="helpful", question="Helpful?", levels={1: "no", 5: "yes"}),
    Criterion(id="honest", title="Honesty", question="Honest?", levels={1: "no", 5: "yes"}),
    Criterion(id="harm_free", question="Safe?", levels={1: "no", 5: "yes"}),
]


def _values(result: dict[str, Parsed[float] | ParseFailure]) -> dict[str, float | None]:
    return {k: v.value if isinstance(v, Parsed) else None for k, v in result.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Feedback: ok\n[RESULT] helpful: 4\n[RESULT] honest: 5\n[RESULT] harm_free: 3",
            {"helpful": 4.0, "honest": 5.0, "harm_free": 3.0},
        ),
        (
            "**Helpful**: 2\nHonesty: 4\nHarm free - 5",
            {"helpful": 2.0, "honest": 4.0, "harm_free": 5.0},
        ),
        (
            "Feedback: x\n[RESULT] 1\n[RESULT] 2\n[RESULT] 3",
            {"helpful": 1, "honest": 2, "harm_free": 3},
        ),
        (
            "[RESULT] helpful: 4\n[RESULT] honest: 9",
            {"helpful": 4.0, "honest": None, "harm_free": None},
        ),
        ("Feedback: fine [RESULT] 4", {"helpful": None, "honest": None, "harm_free": None}),
    ],
    ids=["result-lines", "named-lines", "positional", "partial", "one-result-for-three"],
)
def test_several_criteria_from_one_reply(text: str, expected: dict[str, float | None]) -> None:
    result = parse_scores(_text(text), criteria=CRITERIA, scale=FIVE)
    assert _values(result) == expected
    for value in result.values():
        assert value.raw == text


def test_several_criteria_share_a_judge_error() -> None:
    result = parse_scores(
        JudgeResponse(status="error", error="boom"), criteria=CRITERIA, scale=FIVE
    )
    assert all(isinstance(v, ParseFailure) and v.status == "judge_error" for v in result.values())


@pytest.mark.parametrize(
    ("text", "p_yes"),
    [
        ("YES", 1.0),
        ("No", 0.0),
        ("yes.", 1.0),
        ("**NO**", 0.0),
        ("Answer: Yes, it lists three items.", 1.0),
        ("No, there is no yes in it.", 0.0),
        ("The response meets it, so YES", 1.0),
        ("I think the answer is no", 0.0),
        ("> yes", 1.0),
    ],
)
def test_yes_no_shapes(text: str, p_yes: float) -> None:
    parsed = parse_yes_no(_text(text))
    assert isinstance(parsed, Parsed), parsed
    assert parsed.value == p_yes


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty response"),
        ("Maybe.", "no YES or NO found"),
        ("It says YES in one place and NO in another", "both YES and NO"),
        ("Nothing notable", "no YES or NO found"),
    ],
)
def test_yes_no_failures(text: str, error: str) -> None:
    parsed = parse_yes_no(_text(text))
    assert isinstance(parsed, ParseFailure) and error in parsed.error and parsed.raw == text


def test_yes_probability_sums_spellings() -> None:
    probs = {"YES": 0.1, "Yes": 0.2, "yes": 0.1, "NO": 0.3, "No": 0.2, "no": 0.1}
    assert yes_probability(probs) == pytest.approx(0.4)
    parsed = parse_yes_no(JudgeResponse(text="NO", choice_probs=probs))
    assert isinstance(parsed, Parsed)
    assert parsed.value == pytest.approx(0.4)
    assert parsed.distribution == pytest.approx({"YES": 0.4, "NO": 0.6})
    assert yes_probability({"maybe": 1.0}) is None


@pytest.mark.parametrize(
    ("text", "questions"),
    [
        (
            "1. Does the response name the capital?\n2. Is the response one sentence?",
            ["Does the response name the capital?", "Is the response one sentence?"],
        ),
        (
            "Here is the checklist:\n- Does it rhyme?\n* **Is it about autumn?**\n",
            ["Does it rhyme?", "Is it about autumn?"],
        ),
        (
            "Q1: Does the code run? (YES/NO)\nQ2) Does it handle empty lists?\n"
            "3) Does the code run?",
            ["Does the code run?", "Does it handle empty lists?"],
        ),
        (
            "1. Does the response ...?\n2. Does the response avoid jargon?",
            ["Does the response avoid jargon?"],
        ),
        (
            "1. Is it short?\n2. Is it kind?\n\nInstruction: Write a poem.\n1. Is it a poem?",
            ["Is it short?", "Is it kind?"],
        ),
        (
            "1. The task is to check: does the response meet the requirement?\n"
            "2. Would a child understand it?\n3. Why is it good?",
            ["Would a child understand it?"],
        ),
    ],
    ids=[
        "numbered",
        "bullets-and-bold",
        "q-labels-and-duplicates",
        "placeholder-dropped",
        "stops-at-a-new-block",
        "yes-no-questions-only",
    ],
)
def test_checklist_shapes(text: str, questions: list[str]) -> None:
    parsed = parse_checklist(text, max_questions=8)
    assert isinstance(parsed, Parsed) and parsed.value == questions


def test_checklist_reply_continues_the_assistant_prefix() -> None:
    request = plan_generation([Item("p", "Write a haiku.")], max_questions=3, max_tokens=64)[0]
    continued = checklist_reply(request.request, " rhyme?\n2. Is it about rain?")
    assert continued == "1. Does the response rhyme?\n2. Is it about rain?"
    # A judge that ignores the prefix writes the list from its start.
    whole = "1. Is it a haiku?\n2. Is it about rain?"
    assert checklist_reply(request.request, whole) == whole


def test_checklist_keeps_at_most_max_questions_in_order() -> None:
    text = "\n".join(f"{i}. Does the response mention item {i}?" for i in range(1, 11))
    parsed = parse_checklist(text, max_questions=3)
    assert isinstance(parsed, Parsed)
    assert parsed.value == [f"Does the response mention item {i}?" for i in (1, 2, 3)]


@pytest.mark.parametrize("text", ["", "The response should be short.", "Yes?"])
def test_checklist_without_questions_is_a_failure(text: str) -> None:
    parsed = parse_checklist(text, max_questions=5)
    assert isinstance(parsed, ParseFailure) and parsed.raw == text
