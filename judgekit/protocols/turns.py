"""Judge requests for turn N > 1 of a multi-turn conversation, with turns 1..N in view.

Turn 1 of a conversation is judged like any single-turn prompt (the same request, so the
same cache entry). Turn N shows every user turn and every answer up to N, each fenced on
its own, and asks about the answer to the last user question. The templates follow
MT-Bench's turn-2 judge prompts: ``pairwise_multi_turn`` (``pair-v2-multi-turn``),
``pairwise_multi_turn_reference`` (``pair-math-v1-multi-turn``), ``pointwise_multi_turn``
(``single-v1-multi-turn``) and ``pointwise_multi_turn_reference``
(``single-math-v1-multi-turn``), with their ``### User:`` / ``### Assistant A:`` turn
markers, conversation delimiters and the ``[[A]]``/``[[B]]``/``[[C]]`` and ``[[rating]]``
verdict formats. The reference variants are used when the prompt has a reference answer
for every turn up to N.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.protocols.fencing import fence
from judgekit.protocols.pointwise import (
    SCORE_PREFIX,
    PlannedScore,
    ScoreMode,
    output_format,
    score_rubric_text,
)
from judgekit.rubrics.loader import LoadedRubric
from judgekit.rubrics.model import Criterion, Scale
from judgekit.types import Candidate, Item, JudgeRequest, Message

PAIRWISE_TEMPLATE = "pairwise_multi_turn"
POINTWISE_TEMPLATE = "pointwise_multi_turn"
REFERENCE_SUFFIX = "_reference"

PAIRWISE_VARIABLES = frozenset(
    {"criteria", "turn", "conversation_a", "conversation_b", "reference_conversation"}
    | {"output_format"}
)
POINTWISE_VARIABLES = frozenset(
    {"turn", "conversation", "reference_conversation", "score_rubric", "output_format"}
    | {"min_score", "max_score"}
)
PAIRWISE_OUTPUT_FORMAT = {
    "logprobs": "Which assistant answered the user's last question better, A or B?",
    "generate": (
        "First explain in two or three sentences how the two answers to the user's last "
        'question compare. Then give your final verdict strictly in this format: "[[A]]" if '
        'assistant A is better, "[[B]]" if assistant B is better, or "[[C]]" for a tie.'
    ),
}
# As in the single-turn prompt, ending mid-sentence makes the next token the verdict letter.
PAIRWISE_LOGPROB_PREFIX = "The better answer is from Assistant"
PAIRWISE_CHOICES = ("A", "B")
GENERATE_MAX_TOKENS = 320

Wrap = Callable[..., str]


def _unfenced(text: str, *, label: str) -> str:
    return text


def render_conversation(
    user: Sequence[str], answers: Sequence[str], *, speaker: str, wrap: Wrap = fence
) -> str:
    """``### User:`` / ``### <speaker>:`` blocks, one pair per turn, every text fenced."""
    blocks = []
    for k, (question, answer) in enumerate(zip(user, answers, strict=True), start=1):
        blocks.append(f"### User:\n{wrap(question, label=f'USER TURN {k}')}")
        blocks.append(f"### {speaker}:\n{wrap(answer, label=f'{speaker.upper()} TURN {k}')}")
    return "\n\n".join(blocks)


def _check_turn(item: Item, turn: int, *candidates: Candidate) -> None:
    if not 2 <= turn <= len(item.turns):
        raise ValueError(f"prompt {item.prompt_id!r} has no turn {turn} to judge in context")
    for cand in candidates:
        if len(cand.turns) < turn:
            raise ValueError(f"{cand.model!r} did not answer turn {turn} of {item.prompt_id!r}")


def has_reference(item: Item, turn: int) -> bool:
    """Whether every turn up to ``turn`` has a reference answer."""
    return len(item.reference_turns) >= turn


def _template(name: str, *, reference: bool, allowed: frozenset[str]) -> PromptTemplate:
    return load_template(name + (REFERENCE_SUFFIX if reference else ""), allowed=allowed)


def render_pairwise_turn(
    item: Item,
    first: Candidate,
    second: Candidate,
    *,
    turn: int,
    mode: Literal["logprobs", "generate"],
    criteria: str,
    fenced: bool = True,
) -> JudgeRequest:
    """The request that shows ``first``'s conversation as A and ``second``'s as B, turns 1..N.

    Raises:
        ValueError: the item or a candidate has no turn ``turn`` (the loader refuses such
            inputs, so this is a programming error).
    """
    _check_turn(item, turn, first, second)
    wrap: Wrap = fence if fenced else _unfenced
    user = item.turns[:turn]
    reference = has_reference(item, turn)
    values = {
        "criteria": criteria,
        "turn": str(turn),
        "conversation_a": render_conversation(
            user, first.turns[:turn], speaker="Assistant A", wrap=wrap
        ),
        "conversation_b": render_conversation(
            user, second.turns[:turn], speaker="Assistant B", wrap=wrap
        ),
        "output_format": PAIRWISE_OUTPUT_FORMAT[mode],
    }
    if reference:
        values["reference_conversation"] = render_conversation(
            user, item.reference_turns[:turn], speaker="Reference answer", wrap=wrap
        )
    template = _template(PAIRWISE_TEMPLATE, reference=reference, allowed=PAIRWISE_VARIABLES)
    text = template.render(**{k: v for k, v in values.items() if k in template.variables})
    messages = (Message(role="user", content=text),)
    if mode == "logprobs":
        return JudgeRequest(
            messages=messages,
            choices=PAIRWISE_CHOICES,
            assistant_prefix=PAIRWISE_LOGPROB_PREFIX,
            max_tokens=1,
        )
    return JudgeRequest(messages=messages, max_tokens=GENERATE_MAX_TOKENS)


def turn_output_format(mode: str, criteria: Sequence[Criterion], scale: Scale) -> str:
    """What the judge writes for a turn-N grade: MT-Bench's ``[[rating]]`` for one generated
    score; the single-turn formats otherwise, so that the same parser reads both turns."""
    if mode != "generate" or len(criteria) != 1:
        return output_format(mode, criteria, scale)  # type: ignore[arg-type]
    example = (scale.min + scale.max + 1) // 2
    return (
        "Write a short explanation that assesses the answer to the user's last question "
        "strictly by the score rubric. Then rate it with an integer from "
        f'{scale.min} to {scale.max}, strictly in this format: "[[rating]]", for example '
        f'"Rating: [[{example}]]".'
    )


def render_pointwise_turn(
    item: Item,
    candidate: Candidate,
    *,
    turn: int,
    rubric: LoadedRubric,
    criteria: Sequence[Criterion],
    mode: str,
) -> str:
    """The user message that grades ``candidate``'s answer in turn N with turns 1..N shown."""
    _check_turn(item, turn, candidate)
    spec = rubric.rubric
    user = item.turns[:turn]
    reference = has_reference(item, turn)
    values = {
        "turn": str(turn),
        "conversation": render_conversation(user, candidate.turns[:turn], speaker="Assistant"),
        "score_rubric": score_rubric_text(criteria, spec.scale),
        "output_format": turn_output_format(mode, criteria, spec.scale),
        "min_score": str(spec.scale.min),
        "max_score": str(spec.scale.max),
    }
    if reference:
        values["reference_conversation"] = render_conversation(
            user, item.reference_turns[:turn], speaker="Reference answer"
        )
    template = _template(POINTWISE_TEMPLATE, reference=reference, allowed=POINTWISE_VARIABLES)
    return template.render(**{k: v for k, v in values.items() if k in template.variables})


def later_turns(item: Item) -> range:
    """The turns after the first that ``item`` asks to be judged (empty for one turn)."""
    return range(2, item.n_turns + 1)


def plan_turn_scores(
    candidates: Sequence[Candidate],
    *,
    items: Mapping[str, Item],
    rubric: LoadedRubric,
    mode: ScoreMode,
    max_tokens: int = 512,
) -> list[PlannedScore]:
    """Grading requests for every later turn of every multi-turn candidate.

    The same request shapes as :func:`judgekit.protocols.pointwise.plan_score_requests`
    (per criterion, or all criteria at once in ``generate`` mode), each tagged with its turn.
    """
    spec = rubric.rubric
    groups: list[tuple[Criterion, ...]] = (
        [tuple(spec.criteria)] if mode == "generate" else [(c,) for c in spec.criteria]
    )
    planned: list[PlannedScore] = []
    for cand in candidates:
        item = items[cand.prompt_id]
        for turn in later_turns(item):
            for group in groups:
                text = render_pointwise_turn(
                    item, cand, turn=turn, rubric=rubric, criteria=group, mode=mode
                )
                messages = (Message(role="user", content=text),)
                if mode == "logprobs":
                    request = JudgeRequest(
                        messages=messages,
                        choices=spec.scale.labels,
                        assistant_prefix=SCORE_PREFIX,
                        max_tokens=1,
                    )
                else:
                    request = JudgeRequest(messages=messages, max_tokens=max_tokens)
                ids = tuple(c.id for c in group)
                planned.append(
                    PlannedScore(cand.prompt_id, cand.model, ids, mode, request, turn=turn)
                )
    return planned
