"""The pairwise protocol: render both position orders of each comparison as judge requests.

Two verdict modes:

- ``logprobs``: the prompt asks for a single letter and the judge returns the next-token
  probabilities of A / B / C (C = tie) right after ``Verdict:``. One forward pass per order.
- ``generate``: the judge writes a short rationale, then ``[[A]]``, ``[[B]]`` or ``[[C]]``,
  which :func:`judgekit.protocols.parse.parse_pairwise` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.plan import Comparison
from judgekit.protocols.fencing import fence
from judgekit.protocols.turns import render_pairwise_turn
from judgekit.types import Candidate, Item, JudgeRequest, Message

VerdictMode = Literal["logprobs", "generate"]
Order = Literal["ab", "ba"]

TEMPLATE_VARIABLES = frozenset(
    {"criteria", "reference_section", "question", "response_a", "response_b", "output_format"}
)
DEFAULT_CRITERIA = (
    "helpfulness, relevance, accuracy and clarity; a response that does not answer the "
    "question is worse than one that does."
)
OUTPUT_FORMAT: dict[VerdictMode, str] = {
    "logprobs": "Which response answers the question better, A or B?",
    "generate": (
        "First explain your comparison in two or three sentences. Then give your final verdict "
        'strictly in this format: "[[A]]" if Response A is better, "[[B]]" if Response B is '
        'better, or "[[C]]" for a tie.'
    ),
}
# Ending the prompt mid-sentence makes the next token the verdict letter. A tie option is
# not offered here: small judges put near-random mass on it; the two orders average to a tie
# when the judge cannot tell the responses apart.
LOGPROB_PREFIX = "The better response is Response"
LOGPROB_CHOICES = ("A", "B")
GENERATE_MAX_TOKENS = 320


@dataclass(frozen=True)
class PairwiseSpec:
    """How pairwise requests are rendered."""

    mode: VerdictMode = "logprobs"
    criteria: str = DEFAULT_CRITERIA
    template: str = "pairwise"
    fenced: bool = True
    """Fence untrusted text with unforgeable markers; False only to measure what fencing buys."""


def _unfenced(text: str, *, label: str) -> str:
    return text


def load_pairwise_template(name: str) -> PromptTemplate:
    return load_template(name, allowed=TEMPLATE_VARIABLES)


def render_request(
    item: Item,
    first: Candidate,
    second: Candidate,
    *,
    spec: PairwiseSpec,
    template: PromptTemplate,
) -> JudgeRequest:
    """The judge request that shows ``first`` as Response A and ``second`` as Response B."""
    wrap = fence if spec.fenced else _unfenced
    reference = ""
    if item.reference:
        reference = "\n[Reference answer]\n" + wrap(item.reference, label="REFERENCE") + "\n"
    text = template.render(
        criteria=spec.criteria,
        reference_section=reference,
        question=wrap(item.prompt, label="QUESTION"),
        response_a=wrap(first.output, label="RESPONSE A"),
        response_b=wrap(second.output, label="RESPONSE B"),
        output_format=OUTPUT_FORMAT[spec.mode],
    )
    messages = (Message(role="user", content=text),)
    if spec.mode == "logprobs":
        return JudgeRequest(
            messages=messages,
            choices=LOGPROB_CHOICES,
            assistant_prefix=LOGPROB_PREFIX,
            max_tokens=1,
        )
    return JudgeRequest(messages=messages, max_tokens=GENERATE_MAX_TOKENS)


@dataclass(frozen=True)
class PlannedCall:
    comparison: Comparison
    order: Order
    request: JudgeRequest


def plan_requests(
    comparisons: Sequence[Comparison],
    *,
    items: Mapping[str, Item],
    candidates: Mapping[str, Mapping[str, Candidate]],
    spec: PairwiseSpec,
) -> list[PlannedCall]:
    """Both orders of every comparison: ``ab`` shows model_a first, ``ba`` model_b first.

    A comparison of turn N > 1 shows both conversations up to turn N
    (:func:`judgekit.protocols.turns.render_pairwise_turn`).
    """
    template = load_pairwise_template(spec.template)
    planned: list[PlannedCall] = []
    for comp in comparisons:
        item = items[comp.prompt_id]
        cand_a = candidates[comp.prompt_id][comp.model_a]
        cand_b = candidates[comp.prompt_id][comp.model_b]
        for order, (first, second) in (("ab", (cand_a, cand_b)), ("ba", (cand_b, cand_a))):
            if comp.turn > 1:
                request = render_pairwise_turn(
                    item,
                    first,
                    second,
                    turn=comp.turn,
                    mode=spec.mode,
                    criteria=spec.criteria,
                    fenced=spec.fenced,
                )
            else:
                request = render_request(item, first, second, spec=spec, template=template)
            planned.append(PlannedCall(comp, order, request))  # type: ignore[arg-type]
    return planned
