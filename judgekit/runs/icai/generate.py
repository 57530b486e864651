"""Stage 1 of ICAI: the judge proposes principles that would explain each preference.

One generation request per training pair shows the question, both responses and which one
was preferred, and asks for principles phrased "Select the response that …" (Findeis et al.,
*Inverse Constitutional AI*, 2024; OpenRubrics' contrastive generation contrasts a
preferred and a rejected response the same way). The reply is started for the judge with
``1. Select the response that``, so that even a small model writes principles instead of
answering the question. Replies with no usable principle are kept as failures, with their
raw text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from rich.progress import Progress

from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.judges.base import Judge
from judgekit.protocols.fencing import fence
from judgekit.runs.icai.data import Preference
from judgekit.runs.runner import ExecutionStats, execute
from judgekit.store.db import Store
from judgekit.types import JudgeRequest, JudgeResponse, Message

TEMPLATE = "icai_generate"
VARIABLES = frozenset({"question", "response_a", "response_b", "preferred", "max_principles"})
STEM = "Select the response that"
PREFIX = f"1. {STEM}"
NO_QUESTION = "(no separate question: each response contains the whole conversation)"
MIN_CLAUSE_CHARS = 4
MAX_CLAUSE_CHARS = 300

_NUMBERING = re.compile(r"^\s*(?:\(?\d+[.):]\)?|[-*•])\s*")
# Small models paraphrase the stem; every spelling becomes the canonical one.
_STEM_RE = re.compile(
    r"^(?:select|choose|prefer|pick)\s+(?:the\s+)?(?:response|answer|one|text)\s+"
    r"(?:that|which|who)\s+(?P<clause>.+)$",
    re.IGNORECASE,
)
_END = (".", "!", "?")


def question_text(prompt: str) -> str:
    """The question as shown to the judge; ICAI-style data may carry none of its own."""
    return prompt if prompt.strip() else NO_QUESTION


def generate_template(name: str = TEMPLATE) -> PromptTemplate:
    """The principle-proposal template, checked at load time."""
    return load_template(name, allowed=VARIABLES)


@dataclass(frozen=True)
class PlannedProposal:
    pair_id: str
    request: JudgeRequest


def plan_proposals(
    pairs: Sequence[Preference],
    *,
    per_pair: int,
    max_tokens: int,
    template: PromptTemplate | None = None,
) -> list[PlannedProposal]:
    """One proposal request per decided pair, shown in the data's own order."""
    template = template or generate_template()
    planned = []
    for pair in pairs:
        values = {
            "question": fence(question_text(pair.prompt), label="QUESTION"),
            "response_a": fence(pair.text_a, label="RESPONSE A"),
            "response_b": fence(pair.text_b, label="RESPONSE B"),
            "preferred": pair.preferred.upper(),
            "max_principles": str(per_pair),
        }
        text = template.render(**{k: v for k, v in values.items() if k in template.variables})
        request = JudgeRequest(
            messages=(Message(role="user", content=text),),
            assistant_prefix=PREFIX,
            max_tokens=max_tokens,
        )
        planned.append(PlannedProposal(pair.pair_id, request))
    return planned


def _canonical(line: str) -> str | None:
    text = " ".join(_NUMBERING.sub("", line).split())
    match = _STEM_RE.match(text)
    if match is None:
        return None
    clause = match.group("clause").strip().strip("\"'").rstrip(" .;,:!?")
    if not MIN_CLAUSE_CHARS <= len(clause) <= MAX_CLAUSE_CHARS:
        return None
    return f"{STEM} {clause}."


def parse_principles(
    text: str, *, per_pair: int, truncated: bool = False
) -> tuple[list[str], str | None]:
    """Principles in a proposal reply (the prefix it continued included), and an error.

    Args:
        truncated: the reply used its whole token budget; its last line is then dropped
            unless it ends a sentence, since a cut principle says something else.

    Returns:
        ``(principles, None)`` or ``([], reason)`` when no line is a principle.
    """
    reply = text if text.lstrip().startswith(("1.", "1)", STEM)) else PREFIX + text
    lines = [line for line in reply.splitlines() if line.strip()]
    if truncated and len(lines) > 1 and not lines[-1].rstrip().endswith(_END):
        lines = lines[:-1]
    found: list[str] = []
    seen: set[str] = set()
    for line in lines:
        principle = _canonical(line)
        if principle is None or principle.lower() in seen:
            continue
        seen.add(principle.lower())
        found.append(principle)
        if len(found) == per_pair:
            break
    if not found:
        reason = "empty reply" if not text.strip() else "no line reads 'Select the response that …'"
        return [], reason
    return found, None


def propose_principles(
    pairs: Sequence[Preference],
    *,
    judge: Judge,
    store: Store,
    per_pair: int,
    max_tokens: int,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, ExecutionStats]:
    """Ask ``judge`` for principles for every pair (cached by request hash like any call).

    Returns:
        ``generations``: one row per pair with status, principle count, raw reply and error;
        ``principles``: one row per proposed principle (``principle_id``, ``pair_id``,
        ``principle_index``, ``principle``); and the call counts.
    """
    planned = plan_proposals(pairs, per_pair=per_pair, max_tokens=max_tokens)
    responses, stats = execute(
        [p.request for p in planned],
        judge=judge,
        store=store,
        progress=progress,
        description="proposing principles",
    )
    generations, principles = [], []
    for call, response in zip(planned, responses, strict=True):
        found, error, status = _read(response, per_pair=per_pair, max_tokens=max_tokens)
        generations.append(
            {
                "pair_id": call.pair_id,
                "request_hash": call.request.hash_for(judge.id),
                "status": status,
                "n_principles": len(found),
                "raw": response.text,
                "error": error,
            }
        )
        for index, principle in enumerate(found):
            principles.append(
                {
                    "principle_id": f"{call.pair_id}/{index}",
                    "pair_id": call.pair_id,
                    "principle_index": index,
                    "principle": principle,
                }
            )
    gen_columns = ["pair_id", "request_hash", "status", "n_principles", "raw", "error"]
    principle_columns = ["principle_id", "pair_id", "principle_index", "principle"]
    return (
        pd.DataFrame(generations, columns=gen_columns),
        pd.DataFrame(principles, columns=principle_columns),
        stats,
    )


def _read(
    response: JudgeResponse, *, per_pair: int, max_tokens: int
) -> tuple[list[str], str | None, str]:
    if response.status != "ok":
        return [], response.error or "judge error", "judge_error"
    truncated = response.completion_tokens is not None and response.completion_tokens >= max_tokens
    found, error = parse_principles(response.text, per_pair=per_pair, truncated=truncated)
    return found, error, "ok" if found else "parse_error"
