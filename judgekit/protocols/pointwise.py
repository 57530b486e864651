"""The pointwise (absolute) protocol: render rubric-grading requests for one response each.

Three request shapes, chosen by :func:`plan_score_requests` and :func:`plan_feedback_scores`:

- ``logprobs``: one request per (response, criterion). The prompt asks for the score only;
  the judge returns the probabilities of the score labels right after ``Score: `` in one
  forward pass, and the stored score is their expectation (G-Eval).
- ``generate``: one request per response for *all* criteria of the rubric. The judge writes
  Prometheus-style feedback, then ``[RESULT] <score>`` (one criterion) or one
  ``[RESULT] <criterion>: <score>`` line per criterion, which
  :func:`judgekit.rubrics.parse.parse_scores` reads.
- ``feedback`` then ``logprobs``: a generated feedback per (response, criterion), followed by
  a forward pass whose assistant prefix is that feedback and ``[RESULT] ``: the score is
  again an expectation over the labels, and the feedback explains it.

Logprob scores need score labels that a next-token distribution can tell apart. A label
such as ``10`` starts with the same token as ``1``, so scales beyond 0-9 are always graded
by generation (``Scale.single_token_labels``).

The prefixes end in a space: tokenizers that split digits (SmolLM2, Llama 3) put the space
before a number into its own token, so the number is the natural next token after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.protocols.fencing import fence
from judgekit.rubrics.loader import LoadedRubric
from judgekit.rubrics.model import Criterion, Rubric, Scale
from judgekit.types import Candidate, Item, JudgeRequest, Message

ScoreMode = Literal["logprobs", "generate", "feedback"]

SCORE_PREFIX = "Score: "
RESULT_PREFIX = "[RESULT] "


def score_rubric_text(criteria: Sequence[Criterion], scale: Scale) -> str:
    """The criteria with their level descriptions, as shown to the judge."""
    blocks = []
    for criterion in criteria:
        lines = [f"[{criterion.name}] {criterion.question}"]
        lines += [f"Score {score}: {text.strip()}" for score, text in criterion.levels.items()]
        blocks.append("\n".join(lines))
    note = ""
    if any(len(c.levels) < len(scale.labels) for c in criteria):
        note = (
            "\n(Scores between the described levels are allowed; "
            f"the scale runs from {scale.min} to {scale.max}.)"
        )
    return "\n\n".join(blocks) + note


def criteria_text(rubric: Rubric | LoadedRubric) -> str:
    """The rubric's criteria as one paragraph, for a pairwise prompt's ``$criteria``.

    Relative grading goes through the pairwise protocol: pass this as ``criteria=`` to
    :func:`judgekit.compare` so that the judge compares two responses by these criteria.
    """
    rubric = rubric.rubric if isinstance(rubric, LoadedRubric) else rubric
    parts = []
    for criterion in rubric.criteria:
        best = criterion.levels[rubric.scale.max].strip().rstrip(".")
        parts.append(f"{criterion.name}: {criterion.question.strip()} (best: {best}.)")
    return " ".join(parts)


def output_format(mode: ScoreMode, criteria: Sequence[Criterion], scale: Scale) -> str:
    """What the judge is told to write, matching what the parser reads."""
    span = f"an integer from {scale.min} to {scale.max}"
    if mode == "logprobs":
        return f"Reply with the score only: {span}."
    intro = (
        "Write a short feedback that assesses the response strictly by the score rubric, "
        "not in general. Then give the score"
    )
    if len(criteria) == 1 or mode == "feedback":
        return (
            f"{intro}: {span}. Use exactly this format and nothing else:\n"
            f"Feedback: (your feedback) [RESULT] ({span})"
        )
    lines = "\n".join(f"[RESULT] {c.id}: ({span})" for c in criteria)
    return (
        f"{intro} for each criterion: {span}. Use exactly this format and nothing else:\n"
        f"Feedback: (your feedback)\n{lines}"
    )


def render_prompt(
    item: Item,
    candidate: Candidate,
    *,
    rubric: LoadedRubric,
    criteria: Sequence[Criterion],
    mode: ScoreMode,
) -> str:
    """The user message that asks the judge to grade ``candidate`` on ``criteria``."""
    spec = rubric.rubric
    reference = spec.reference_for(item.prompt_id, item.reference)
    reference_section = ""
    if reference:
        reference_section = (
            f"\n[Reference answer (would get a score of {spec.scale.max})]\n"
            + fence(reference, label="REFERENCE")
            + "\n"
        )
    values = {
        "instruction": fence(item.prompt, label="INSTRUCTION"),
        "response": fence(candidate.output, label="RESPONSE"),
        "reference_section": reference_section,
        "score_rubric": score_rubric_text(criteria, spec.scale),
        "output_format": output_format(mode, criteria, spec.scale),
        "min_score": str(spec.scale.min),
        "max_score": str(spec.scale.max),
    }
    used = {k: v for k, v in values.items() if k in rubric.template.variables}
    return rubric.template.render(**used)


@dataclass(frozen=True)
class PlannedScore:
    """One grading request and what it scores."""

    prompt_id: str
    model: str
    criteria: tuple[str, ...]
    mode: ScoreMode
    request: JudgeRequest
    turn: int = 1


def plan_score_requests(
    candidates: Sequence[Candidate],
    *,
    items: Mapping[str, Item],
    rubric: LoadedRubric,
    mode: ScoreMode,
    max_tokens: int = 512,
) -> list[PlannedScore]:
    """Requests for every candidate: per criterion (logprobs, feedback) or all at once.

    Args:
        mode: ``logprobs`` (score-only forward pass), ``generate`` (all criteria in one
            generated reply) or ``feedback`` (generated feedback per criterion, to be
            followed by :func:`plan_feedback_scores`).
        max_tokens: generation budget for ``generate`` and ``feedback``.
    """
    spec = rubric.rubric
    planned: list[PlannedScore] = []
    groups: list[tuple[Criterion, ...]] = (
        [tuple(spec.criteria)] if mode == "generate" else [(c,) for c in spec.criteria]
    )
    for cand in candidates:
        item = items[cand.prompt_id]
        for group in groups:
            text = render_prompt(item, cand, rubric=rubric, criteria=group, mode=mode)
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
            planned.append(
                PlannedScore(cand.prompt_id, cand.model, tuple(c.id for c in group), mode, request)
            )
    return planned


def plan_feedback_scores(
    feedback_calls: Sequence[PlannedScore], feedbacks: Sequence[str], *, scale: Scale
) -> list[PlannedScore]:
    """Logprob score requests that continue each generated feedback with ``[RESULT] ``.

    The prompt is the feedback request's own, so the judge reads the score distribution in
    the context of its own reasoning (Prometheus feedback, then a G-Eval expectation).
    """
    planned = []
    for call, feedback in zip(feedback_calls, feedbacks, strict=True):
        prefix = (
            f"Feedback: {feedback.strip()} {RESULT_PREFIX}" if feedback.strip() else RESULT_PREFIX
        )
        request = JudgeRequest(
            messages=call.request.messages,
            choices=scale.labels,
            assistant_prefix=prefix,
            max_tokens=1,
        )
        planned.append(
            PlannedScore(
                call.prompt_id, call.model, call.criteria, "logprobs", request, turn=call.turn
            )
        )
    return planned
