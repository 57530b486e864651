"""The checklist protocol (TICK): write YES/NO checklists, then answer them per response.

- **Generation**: one request per instruction. The judge writes numbered YES/NO questions,
  each about one requirement of the instruction; :func:`judgekit.rubrics.parse.parse_checklist`
  reads them.
- **Answering**: one request per (response, question). With logprobs it is one forward pass
  that reads the probabilities of the YES and NO spellings right after ``Answer:``; they are
  summed per answer and normalised into P(YES). Otherwise the judge replies and the
  answer is parsed. Requests are independent, so the runner batches them freely.

Spellings are separate choices (``YES``, ``Yes``, ``yes`` ...) because a tokenizer gives them
different first tokens; a small judge often prefers ``Yes`` even when asked for ``YES``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.protocols.fencing import fence
from judgekit.rubrics.model import Checklist
from judgekit.types import Candidate, Item, JudgeRequest, Message

AnswerMode = Literal["logprobs", "generate"]

GENERATE_TEMPLATE = "checklist_generate"
ANSWER_TEMPLATE = "checklist_answer"
GENERATE_VARIABLES = frozenset({"instruction", "max_questions"})
ANSWER_VARIABLES = frozenset({"instruction", "response", "question", "output_format"})

#: The checklist reply is started for the judge, so that even a small model writes numbered
#: questions about the response instead of answering the instruction itself.
GENERATE_PREFIX = "1. Does the response"
YES_NO_CHOICES = ("YES", "Yes", "yes", "NO", "No", "no")
ANSWER_PREFIX = "Answer:"
ANSWER_MAX_TOKENS = 16
OUTPUT_FORMAT: dict[AnswerMode, str] = {
    "logprobs": "Reply with one word: YES or NO.",
    "generate": "Reply with one word, YES or NO, and nothing else.",
}


def _checked(name: str, allowed: frozenset[str], required: frozenset[str]) -> PromptTemplate:
    from judgekit.errors import ConfigError

    template = load_template(name, allowed=allowed)
    missing = required - template.variables
    if missing:
        raise ConfigError(
            f"{template.path}: the template does not use "
            f"{', '.join('$' + v for v in sorted(missing))}"
        )
    return template


def generate_template(name: str = GENERATE_TEMPLATE) -> PromptTemplate:
    """The checklist-writing template, checked at load time."""
    return _checked(name, GENERATE_VARIABLES, frozenset({"instruction"}))


def answer_template(name: str = ANSWER_TEMPLATE) -> PromptTemplate:
    """The checklist-answering template, checked at load time."""
    return _checked(name, ANSWER_VARIABLES, ANSWER_VARIABLES)


@dataclass(frozen=True)
class PlannedChecklist:
    """One checklist-writing request."""

    prompt_id: str
    request: JudgeRequest


@dataclass(frozen=True)
class PlannedAnswer:
    """One (response, question) answering request."""

    prompt_id: str
    model: str
    question_index: int
    request: JudgeRequest


def plan_generation(
    items: Sequence[Item],
    *,
    max_questions: int,
    max_tokens: int,
    template: PromptTemplate | None = None,
) -> list[PlannedChecklist]:
    """One checklist-writing request per item."""
    template = template or generate_template()
    planned = []
    for item in items:
        values = {
            "instruction": fence(item.prompt, label="INSTRUCTION"),
            "max_questions": str(max_questions),
        }
        text = template.render(**{k: v for k, v in values.items() if k in template.variables})
        request = JudgeRequest(
            messages=(Message(role="user", content=text),),
            assistant_prefix=GENERATE_PREFIX,
            max_tokens=max_tokens,
        )
        planned.append(PlannedChecklist(item.prompt_id, request))
    return planned


def checklist_reply(request: JudgeRequest, text: str) -> str:
    """The whole checklist a judge wrote: the assistant prefix it continued, then its text.

    Judges that do not continue a prefix (API judges without prefill) write the list from
    the start; their text already opens with the first item and is taken as is.
    """
    prefix = request.assistant_prefix
    if not prefix or text.lstrip().startswith(("1.", "1)", prefix.strip())):
        return text
    return prefix + text


def render_answer(
    item: Item,
    candidate: Candidate,
    question: str,
    *,
    mode: AnswerMode,
    template: PromptTemplate,
) -> JudgeRequest:
    """The request that asks whether ``candidate`` meets one checklist ``question``."""
    text = template.render(
        instruction=fence(item.prompt, label="INSTRUCTION"),
        response=fence(candidate.output, label="RESPONSE"),
        question=question,
        output_format=OUTPUT_FORMAT[mode],
    )
    messages = (Message(role="user", content=text),)
    if mode == "logprobs":
        return JudgeRequest(
            messages=messages, choices=YES_NO_CHOICES, assistant_prefix=ANSWER_PREFIX, max_tokens=1
        )
    return JudgeRequest(messages=messages, max_tokens=ANSWER_MAX_TOKENS)


def plan_answers(
    candidates: Sequence[Candidate],
    *,
    items: Mapping[str, Item],
    checklists: Mapping[str, Checklist],
    mode: AnswerMode,
    template: PromptTemplate | None = None,
) -> list[PlannedAnswer]:
    """Every (candidate, question) pair of the candidates whose item has a checklist."""
    template = template or answer_template()
    planned = []
    for cand in candidates:
        checklist = checklists.get(cand.prompt_id)
        if checklist is None:
            continue
        item = items[cand.prompt_id]
        for index, question in enumerate(checklist.questions):
            request = render_answer(item, cand, question.question, mode=mode, template=template)
            planned.append(PlannedAnswer(cand.prompt_id, cand.model, index, request))
    return planned
