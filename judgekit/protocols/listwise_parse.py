"""Parse a listwise judge's answer into a ranking of the K positions it was shown.

The parser never raises: an answer it cannot read becomes a :class:`ListwiseVerdict` with
``status="parse_error"`` and the raw text, so failures are stored as data.

Ranking shapes understood, in order of trust:

1. first-choice probabilities from logprobs (one forward pass, ``choice_probs`` over the
   labels ``"1"`` .. ``"K"``): the ranking is the order of those probabilities;
2. a chain, as listwise rerankers emit it (Sun et al. 2023, "Is ChatGPT Good at Search?",
   RankGPT): ``[2] > [1] > [3]``, ``Response 2 > Response 1``, ``[B] > [A]``, ``2 > 1 > 3``
   or ``[2], [1], [3]``; the last chain in the text counts, since rankers reason first;
3. JSON: ``[2, 1, 3]``, ``["[2]", "[1]", "[3]"]``, ``{"ranking": [2, 1, 3]}`` or a list of
   names, also inside a fenced code block;
4. a numbered or bulleted list with one candidate per line (``1. [2] ...``);

where a label is a number (``1`` .. ``K``), a capital letter (``A`` = 1), or one of the
``names`` the caller showed. A ranking that lists K - 1 candidates implies the last one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.types import JudgeResponse, VerdictStatus

_WORD = r"(?:response|candidate|assistant|output|answer|passage|model|system)"
# One label: bracketed, named ("Response 2", "Assistant B"), or a bare number.
# Letters must be capitals: "answer a question" is prose, "Answer A" is a label.
_LABEL = re.compile(
    rf"\[\s*(?P<br>\d{{1,2}}|[A-Z])\s*\]"
    rf"|\b(?i:{_WORD})\s*#?\s*[\[(]?\s*(?P<nm>\d{{1,2}}|[A-Z])\b\s*[\])]?"
    r"|(?<![\w.\[])(?P<bare>\d{1,2})(?![\w.\]])"
)
_SEPARATOR = re.compile(r"^\s*(?:>{1,2}|≻|→|=|,|;)?\s*$")
_LIST_LINE = re.compile(r"^\s*(?:(?:rank\s*)?#?\d{1,2}\s*[.):]|[-*•])\s*(?P<rest>.+)$", re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_RANKING_KEYS = ("ranking", "rankings", "order", "rank", "ranked", "result", "best_to_worst")


@dataclass(frozen=True)
class ListwiseVerdict:
    """One listwise judge call, parsed, in *position* terms (0 = the candidate shown as [1]).

    ``ranking`` lists positions best first. ``first_probs`` holds, per position, the
    probability that the judge names it first (logprob mode only).
    """

    status: VerdictStatus
    ranking: tuple[int, ...] = ()
    first_probs: tuple[float, ...] | None = None
    discrete: bool = True
    raw: str = ""
    error: str | None = None


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    label: str
    bare: bool


def _position(label: Any, *, k: int, names: Mapping[str, int]) -> int | None:
    """0-based position of one label, or None when it names no candidate."""
    if isinstance(label, bool):
        return None
    if isinstance(label, int):
        return label - 1 if 1 <= label <= k else None
    if not isinstance(label, str):
        return None
    text = label.strip()
    lowered = {n.lower(): p for n, p in names.items()}
    if text.lower() in lowered:
        return lowered[text.lower()]
    match = _LABEL.fullmatch(text) or _LABEL.search(text)
    if match is None:
        return None
    token = match.group("br") or match.group("nm") or match.group("bare")
    if token.isdigit():
        value = int(token)
        return value - 1 if 1 <= value <= k else None
    value = ord(token.upper()) - ord("A")
    return value if 0 <= value < k else None


def _complete(positions: Sequence[int | None], *, k: int) -> tuple[int, ...] | str:
    """Check a candidate ranking; fill in the one missing position of a K - 1 ranking."""
    if any(p is None for p in positions):
        return f"a label outside 1..{k}"
    ranked = [int(p) for p in positions if p is not None]
    if len(set(ranked)) != len(ranked):
        return "a candidate is ranked twice"
    if len(ranked) == k - 1:
        ranked.append(next(p for p in range(k) if p not in ranked))
    if len(ranked) != k:
        return f"incomplete ranking: {len(ranked)} of {k} candidates"
    return tuple(ranked)


def _name_tokens(text: str, names: Mapping[str, int]) -> list[_Token]:
    if not names:
        return []
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return [_Token(m.start(), m.end(), m.group(0), False) for m in pattern.finditer(text)]


def _tokens(text: str, names: Mapping[str, int]) -> list[_Token]:
    found = _name_tokens(text, names)
    taken = [(t.start, t.end) for t in found]
    for m in _LABEL.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue  # inside a name the caller gave, e.g. the "2" of "model-2"
        bare = m.group("bare") is not None
        found.append(_Token(m.start(), m.end(), m.group(0), bare))
    return sorted(found, key=lambda t: t.start)


def _chains(text: str, *, k: int, names: Mapping[str, int]) -> list[list[_Token]]:
    """Runs of labels joined only by separators (``>``, ``,`` or blanks) on one line."""
    chains: list[list[_Token]] = []
    current: list[_Token] = []
    for token in _tokens(text, names):
        if current:
            between = text[current[-1].end : token.start]
            if "\n" not in between and _SEPARATOR.match(between):
                current.append(token)
                continue
            chains.append(current)
        current = [token]
    if current:
        chains.append(current)
    good = []
    for chain in chains:
        if len(chain) < 2:
            continue
        if any(t.bare for t in chain):
            # Bare numbers are prose ("steps 1, 2") unless '>' joins every one of them.
            joins = [text[a.end : b.start] for a, b in zip(chain, chain[1:], strict=False)]
            if not all(">" in j or "≻" in j for j in joins):
                continue
        good.append(chain)
    return good


def _json_candidates(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    values: list[Any] = []
    for source in sources:
        for index, char in enumerate(source):
            if char not in "[{":
                continue
            try:
                value, _ = decoder.raw_decode(source, index)
            except ValueError:
                continue
            if isinstance(value, dict):
                value = next(
                    (value[key] for key in _RANKING_KEYS if isinstance(value.get(key), list)),
                    None,
                )
            if isinstance(value, list):
                # [[2], [1], [3]] is a list of one-element lists: flatten those.
                flat = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in value]
                if len(flat) >= 2:
                    values.append(flat)
    return values


def _list_lines(text: str, *, k: int, names: Mapping[str, int]) -> list[list[int | None]]:
    """Consecutive list lines that each start with a candidate label."""
    runs: list[list[int | None]] = []
    current: list[int | None] = []
    for line in text.splitlines():
        match = _LIST_LINE.match(line)
        token = None
        if match:
            rest = match.group("rest")
            tokens = _tokens(rest, names)
            first = tokens[0] if tokens else None
            # "1. [2] ..." or "1. Response 2 ..." rank a candidate; a bare number counts only
            # when it is the whole line ("1. 2"), since "1. 2 cups of flour" is prose.
            if first is not None and first.start <= 2 and not first.bare:
                token = first
            elif first is not None and first.bare and rest.strip() == first.label:
                token = first
        if token is None:
            if current:
                runs.append(current)
            current = []
            continue
        current.append(_position(token.label, k=k, names=names))
    if current:
        runs.append(current)
    return [run for run in runs if len(run) >= 2]


def parse_ranking(
    text: str, *, k: int, names: Mapping[str, int] | None = None
) -> tuple[int, ...] | str:
    """The ranking in ``text`` as 0-based positions, best first, or the reason it has none.

    Args:
        text: the judge's answer.
        k: how many candidates were shown.
        names: extra labels the judge may use, mapped to 0-based positions.
    """
    names = dict(names or {})
    reasons: list[str] = []
    chains = _chains(text, k=k, names=names)
    for chain in reversed(chains):
        result = _complete([_position(t.label, k=k, names=names) for t in chain], k=k)
        if isinstance(result, tuple):
            return result
        reasons.append(result)
    for value in reversed(_json_candidates(text)):
        result = _complete([_position(v, k=k, names=names) for v in value], k=k)
        if isinstance(result, tuple):
            return result
        reasons.append(result)
    for run in reversed(_list_lines(text, k=k, names=names)):
        result = _complete(run, k=k)
        if isinstance(result, tuple):
            return result
        reasons.append(result)
    if reasons:
        return reasons[0]
    return "no ranking found" if text.strip() else "empty response"


def ranking_from_probs(probs: Sequence[float]) -> tuple[int, ...]:
    """Positions ordered by first-choice probability, best first.

    Under Plackett-Luce the first-choice probabilities are proportional to the strengths,
    and the most probable ranking orders the candidates by strength, so this is the modal
    full ranking implied by one forward pass. Exact ties keep the shown order; permutations
    average that away.
    """
    return tuple(sorted(range(len(probs)), key=lambda p: (-probs[p], p)))


def parse_listwise(
    response: JudgeResponse,
    *,
    k: int,
    names: Mapping[str, int] | None = None,
    prefix: str = "",
) -> ListwiseVerdict:
    """Turn one judge response into a position-level listwise verdict.

    Args:
        response: the judge's response to a listwise request.
        k: number of candidates shown.
        names: extra labels the judge may use, mapped to 0-based positions.
        prefix: the request's assistant prefix (e.g. ``"Ranking: ["``); a text answer is
            read as its continuation.
    """
    if response.status != "ok":
        return ListwiseVerdict(status="judge_error", raw=response.text, error=response.error)
    probs = response.choice_probs
    if probs:
        values = [max(0.0, float(probs.get(str(p + 1), 0.0))) for p in range(k)]
        total = sum(values)
        if total > 0:
            first = tuple(v / total for v in values)
            return ListwiseVerdict(
                status="ok",
                ranking=ranking_from_probs(first),
                first_probs=first,
                discrete=False,
                raw=response.text,
            )
    text = response.text
    if prefix and not text.lstrip().startswith(prefix.strip()):
        text = prefix + text
    result = parse_ranking(text, k=k, names=names)
    if isinstance(result, str):
        return ListwiseVerdict(status="parse_error", raw=response.text, error=result)
    return ListwiseVerdict(status="ok", ranking=result, raw=response.text)
