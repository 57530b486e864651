"""Parsers for rubric scores, YES/NO answers and generated checklists. They never raise.

Each parser returns :class:`Parsed` or :class:`ParseFailure`; a failure keeps the raw text
and the reason, and is stored as data (``status="parse_error"``) instead of being retried.

Score shapes understood, in order of trust:

1. choice probabilities over the score labels (logprobs): the expected score
   ``sum(s * p(s))``, as in G-Eval, with the distribution kept;
2. ``[RESULT] 4`` (Prometheus; the last one counts), then ``Rating: [[4]]`` (MT-Bench's
   ``[[rating]]``; the last one counts);
3. ``Score: 4``, ``score of 4``, ``Rating = 4``, ``4 out of 5`` and ``4/5`` (the denominator
   must be the scale's maximum, so that ``8/10`` on a 1-5 scale is not read as 8);
4. a bold number ``**4**`` when it is the only one;
5. a reply that is only a number (``4``, ``4.``).

A score outside the scale is a failure, never clipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from judgekit.rubrics.model import Criterion, Scale
from judgekit.types import JudgeResponse

T = TypeVar("T")

FailureStatus = Literal["parse_error", "judge_error"]


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A parsed value, with the distribution it came from when logprobs were used."""

    value: T
    raw: str = ""
    distribution: dict[str, float] | None = None


@dataclass(frozen=True)
class ParseFailure:
    """Why a response could not be parsed; ``judge_error`` when the call itself failed."""

    raw: str
    error: str
    status: FailureStatus = "parse_error"


ScoreResult = Parsed[float] | ParseFailure


_NUMBER = r"(-?\d+(?:\.\d+)?)"
_RESULT = re.compile(r"\[\s*RESULT\s*\]\s*[:=\-]?\s*\**\s*" + _NUMBER, re.IGNORECASE)
_KEYWORD = re.compile(
    r"\b(?:score|rating|grade)\b\s*(?:is|of|was|:|=|-)?\s*(?:is\s*)?[:=]?\s*\**\s*"
    + _NUMBER
    # "Score 5: excellent" is the rubric's level list echoed back, not a verdict.
    + r"(?!\d|\.\d|\s*:)",
    re.IGNORECASE,
)
_DOUBLE_BRACKET = re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]")
_OUT_OF = re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*(\d+)", re.IGNORECASE)
_BOLD = re.compile(r"\*\*\s*" + _NUMBER + r"\s*\*\*")
_BARE = re.compile(r"^\W*?" + _NUMBER + r"\s*[.!]?\s*$")


def _in_scale(value: float, scale: Scale, raw: str) -> Parsed[float] | ParseFailure:
    if scale.min <= value <= scale.max:
        return Parsed(value=value, raw=raw)
    return ParseFailure(
        raw=raw, error=f"score {value:g} is outside the scale {scale.min}-{scale.max}"
    )


def _find_score(text: str, scale: Scale) -> float | None:
    results = _RESULT.findall(text)
    if results:
        return float(results[-1])
    bracketed = _DOUBLE_BRACKET.findall(text)
    if bracketed:
        return float(bracketed[-1])
    keyword = _KEYWORD.findall(text)
    if keyword:
        return float(keyword[-1])
    out_of = [(v, d) for v, d in _OUT_OF.findall(text) if int(d) == scale.max]
    if out_of:
        return float(out_of[-1][0])
    bold = set(_BOLD.findall(text))
    if len(bold) == 1:
        return float(bold.pop())
    bare = _BARE.match(text.strip())
    if bare:
        return float(bare.group(1))
    return None


def feedback_text(text: str) -> str:
    """The feedback part of a Prometheus reply: everything before the first ``[RESULT]``."""
    cut = re.search(r"\[\s*RESULT\s*\]", text, re.IGNORECASE)
    body = text[: cut.start()] if cut else text
    return body.strip().removeprefix("Feedback:").strip()


def expected_score(probs: Mapping[str, float], scale: Scale) -> Parsed[float] | ParseFailure:
    """The probability-weighted expected score over the score labels (G-Eval).

    The probabilities are renormalised over the labels of ``scale``; labels the judge did not
    return count as zero.
    """
    labels = scale.labels
    weights = [max(0.0, float(probs.get(label, 0.0))) for label in labels]
    total = sum(weights)
    if not total > 0.0:  # also catches NaN
        return ParseFailure(
            raw="", error=f"no probability on any score label {labels[0]}-{labels[-1]}"
        )
    distribution = {label: w / total for label, w in zip(labels, weights, strict=True)}
    value = sum(int(label) * p for label, p in distribution.items())
    return Parsed(value=value, raw="", distribution=distribution)


def parse_score(response: JudgeResponse, *, scale: Scale) -> Parsed[float] | ParseFailure:
    """One score from a judge response: choice probabilities first, then the text."""
    if response.status != "ok":
        return ParseFailure(
            raw=response.text, error=response.error or "judge error", status="judge_error"
        )
    if response.choice_probs:
        parsed = expected_score(response.choice_probs, scale)
        if isinstance(parsed, Parsed):
            return Parsed(value=parsed.value, raw=response.text, distribution=parsed.distribution)
    text = response.text
    if not text.strip():
        return ParseFailure(raw=text, error="empty response")
    value = _find_score(text, scale)
    if value is None:
        return ParseFailure(raw=text, error="no score found")
    return _in_scale(value, scale, text)


def _criterion_pattern(criterion: Criterion) -> re.Pattern[str]:
    names = {criterion.id, criterion.id.replace("_", " "), criterion.name}
    alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    return re.compile(
        r"(?:\[\s*RESULT\s*\]\s*)?\**\s*(?:"
        + alternatives
        + r")\s*\**\s*[:=\-]\s*\**\s*"
        + _NUMBER,
        re.IGNORECASE,
    )


def parse_scores(
    response: JudgeResponse, *, criteria: Sequence[Criterion], scale: Scale
) -> dict[str, ScoreResult]:
    """Scores of several criteria judged in one generated reply.

    Each criterion is looked up by its id or title (``[RESULT] honesty: 4``,
    ``Honesty: 4``). When names are missing but the reply holds exactly one ``[RESULT]`` per
    criterion, they are taken in the rubric's order. A single criterion falls back to
    :func:`parse_score`.
    """
    if len(criteria) == 1:
        return {criteria[0].id: parse_score(response, scale=scale)}
    if response.status != "ok":
        failure = ParseFailure(
            raw=response.text, error=response.error or "judge error", status="judge_error"
        )
        return {c.id: failure for c in criteria}
    text = response.text
    named: dict[str, ScoreResult] = {}
    for criterion in criteria:
        found = _criterion_pattern(criterion).findall(text)
        if found:
            named[criterion.id] = _in_scale(float(found[-1]), scale, text)
    if not named:
        positional = _RESULT.findall(text)
        if len(positional) == len(criteria):
            return {
                c.id: _in_scale(float(v), scale, text)
                for c, v in zip(criteria, positional, strict=True)
            }
    reason = "empty response" if not text.strip() else "no score found for this criterion"
    return {c.id: named.get(c.id, ParseFailure(raw=text, error=reason)) for c in criteria}


# -- YES / NO ------------------------------------------------------------------------------

_LEADING_ANSWER = re.compile(
    r"^[\s*_>#`\"'(\[]*(?:answer|verdict|final answer)?\s*[:\-]?\s*[*_\"'(\[]*(yes|no)\b",
    re.IGNORECASE,
)
_UPPER_WORD = re.compile(r"\b(YES|NO)\b")
_ANY_WORD = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def yes_probability(probs: Mapping[str, float]) -> float | None:
    """P(YES) from choice probabilities whose keys spell yes or no in any case.

    Several spellings (``YES``, ``Yes``) are separate choices because a tokenizer gives them
    different first tokens; their probabilities add up.
    """
    yes = sum(max(0.0, p) for k, p in probs.items() if k.strip().lower() == "yes")
    no = sum(max(0.0, p) for k, p in probs.items() if k.strip().lower() == "no")
    total = yes + no
    return yes / total if total > 0 else None


def parse_yes_no(response: JudgeResponse) -> Parsed[float] | ParseFailure:
    """P(YES) of one checklist answer: 1.0 or 0.0 from text, soft from logprobs.

    Text: a leading yes/no (``Yes.``, ``**NO**``, ``Answer: yes``) decides; otherwise the
    answer is the one upper-case YES or NO in the reply, or the one yes/no word in it; a
    reply with both and no leading answer is ambiguous, a failure.
    """
    if response.status != "ok":
        return ParseFailure(
            raw=response.text, error=response.error or "judge error", status="judge_error"
        )
    if response.choice_probs:
        p_yes = yes_probability(response.choice_probs)
        if p_yes is not None:
            return Parsed(
                value=p_yes, raw=response.text, distribution={"YES": p_yes, "NO": 1 - p_yes}
            )
    text = response.text
    if not text.strip():
        return ParseFailure(raw=text, error="empty response")
    leading = _LEADING_ANSWER.match(text)
    if leading:
        return Parsed(value=1.0 if leading.group(1).lower() == "yes" else 0.0, raw=text)
    for pattern in (_UPPER_WORD, _ANY_WORD):
        words = {w.lower() for w in pattern.findall(text)}
        if len(words) == 1:
            return Parsed(value=1.0 if words.pop() == "yes" else 0.0, raw=text)
        if len(words) > 1:
            return ParseFailure(raw=text, error="both YES and NO in the answer")
    return ParseFailure(raw=text, error="no YES or NO found")


# -- generated checklists ------------------------------------------------------------------

_ITEM_PREFIX = re.compile(
    r"^\s*(?:[-*•]|\d+\s*[.):]|\(?[a-zA-Z]\)|Q\d*\s*[.:)]|\[\s*\]|question\s*\d*\s*[.:])\s*",
    re.IGNORECASE,
)


_YES_NO_OPENERS = frozenset(
    {"does", "do", "did", "is", "are", "was", "were", "has", "have", "had", "can", "could"}
    | {"will", "would", "should", "shall", "may", "might", "must"}
)
_NEW_BLOCK = re.compile(r"^\W*(?:example|instruction|checklist)\b[^?]*:", re.IGNORECASE)


def parse_checklist(text: str, *, max_questions: int) -> Parsed[list[str]] | ParseFailure:
    """YES/NO questions from a judge-written checklist.

    Accepted lines are list items (``1.``, ``-``, ``*``, ``Q1:``) or plain lines; each must
    open with an auxiliary verb (Does, Is, Are, Can ...) and end with a question mark. The
    list ends where a new block (``Instruction:``, ``Example ...:``) starts. Markdown
    emphasis and quotes are stripped, duplicates dropped, and at most ``max_questions``
    kept, in order.
    """
    questions: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        # A model that runs on often starts a new example; its questions are not ours.
        if questions and _NEW_BLOCK.match(line):
            break
        body = _ITEM_PREFIX.sub("", line.strip(), count=1).strip().strip("*_\"'` ").strip()
        # A model sometimes adds an answer hint after the question ("...? (YES/NO)").
        body = re.sub(r"\s*\((?:yes\s*/\s*no)\)\s*$", "", body, flags=re.IGNORECASE)
        # Too short to be a question, or the template's placeholder copied back ("...?").
        if not body.endswith("?") or len(body) < 8 or re.search(r"(\.\.\.|…)\s*\?$", body):
            continue
        # A YES/NO question opens with an auxiliary verb; prose that happens to end in "?"
        # (a model restating its task) does not.
        if body.split(None, 1)[0].lower() not in _YES_NO_OPENERS:
            continue
        key = re.sub(r"\W+", " ", body.lower()).strip()
        if key in seen:
            continue
        seen.add(key)
        questions.append(body)
    if not questions:
        reason = (
            "empty response" if not text.strip() else "no question (a line ending in '?') found"
        )
        return ParseFailure(raw=text, error=reason)
    return Parsed(value=questions[:max_questions], raw=text)
