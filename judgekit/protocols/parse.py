"""Parsers from judge responses to verdicts. They never raise: failures are data.

Pairwise verdict shapes understood, in order of trust:

1. choice probabilities from logprobs (one forward pass, no text needed);
2. ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (also ``[[tie]]``), MT-Bench and arena-hard style; when
   several different bracketed verdicts appear, the last one counts only if it follows
   a "final verdict" cue, else the output is ambiguous;
3. a bare letter reply (``A``, ``B.``, ``C``) or ``Verdict: A`` / ``Final verdict: B``;
4. phrases such as ``Response A is better`` or ``Output (b)``.
"""

from __future__ import annotations

import re

from judgekit.types import JudgeResponse, Verdict

CHOICES = ("A", "B", "C")
_TIE_WORDS = {"C": "C", "TIE": "C", "TIED": "C", "EQUAL": "C", "A=B": "C"}

_BRACKETED = re.compile(r"\[\[\s*(A|B|C|TIE|A=B)\s*\]\]", re.IGNORECASE)
_FINAL_CUE = re.compile(r"final\s+verdict|verdict\s*:|therefore|in conclusion", re.IGNORECASE)
_BARE = re.compile(r"^\W*(?:verdict\s*[:=]?\s*)?\(?\[?\s*([ABC])\s*\]?\)?\W*$", re.IGNORECASE)
_VERDICT_COLON = re.compile(
    r"(?:final\s+)?verdict\s*(?:is)?\s*[:=]?\s*\(?\[?\s*\b(A|B|C|tie)\b", re.IGNORECASE
)
_PHRASE = re.compile(
    r"\b(?:response|output|assistant|answer)\s*\(?\s*([AB])\s*\)?\s+(?:is|was)\s+(?:better|"
    r"superior|preferred|more helpful)",
    re.IGNORECASE,
)


def _letter(token: str) -> str | None:
    upper = token.strip().upper()
    if upper in ("A", "B"):
        return upper
    return _TIE_WORDS.get(upper)


def _one_hot(letter: str, raw: str) -> Verdict:
    return Verdict(
        status="ok",
        p_first=1.0 if letter == "A" else 0.0,
        p_second=1.0 if letter == "B" else 0.0,
        p_tie=1.0 if letter == "C" else 0.0,
        discrete=True,
        raw=raw,
    )


def parse_letter_verdict(text: str) -> str | None:
    """The verdict letter (``A``, ``B`` or ``C``) in ``text``, or None if absent or ambiguous."""
    bracketed = [_letter(m.group(1)) for m in _BRACKETED.finditer(text)]
    distinct = {b for b in bracketed if b}
    if len(distinct) == 1:
        return distinct.pop()
    if len(distinct) > 1:
        last = list(_BRACKETED.finditer(text))[-1]
        # "A is tempting, but [[B]]" is common; trust the last one only after a final cue.
        if _FINAL_CUE.search(text[max(0, last.start() - 80) : last.start()]):
            return _letter(last.group(1))
        return None
    stripped = text.strip()
    bare = _BARE.match(stripped)
    if bare:
        return _letter(bare.group(1))
    colon = list(_VERDICT_COLON.finditer(text))
    if colon:
        return _letter(colon[-1].group(1))
    phrases = {m.group(1).upper() for m in _PHRASE.finditer(text)}
    if len(phrases) == 1:
        return phrases.pop()
    return None


def parse_pairwise(response: JudgeResponse) -> Verdict:
    """Turn one judge response into a position-level pairwise verdict."""
    if response.status != "ok":
        return Verdict(status="judge_error", raw=response.text, error=response.error)
    probs = response.choice_probs
    if probs:
        total = sum(max(0.0, probs.get(c, 0.0)) for c in CHOICES)
        if total > 0:
            return Verdict(
                status="ok",
                p_first=probs.get("A", 0.0) / total,
                p_second=probs.get("B", 0.0) / total,
                p_tie=probs.get("C", 0.0) / total,
                discrete=False,
                raw=response.text,
            )
    letter = parse_letter_verdict(response.text)
    if letter is None:
        reason = "no verdict found" if response.text.strip() else "empty response"
        return Verdict(status="parse_error", raw=response.text, error=reason)
    return _one_hot(letter, response.text)
