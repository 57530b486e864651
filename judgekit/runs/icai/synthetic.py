"""Synthetic preferences with known principles, and a scripted judge that reads them literally.

ICAI is validated on synthetic data whose preferences follow planted rules (Findeis et al.,
2024, §4.1). Here each pair differs in one attribute only: length, emoji, a number, or
slang. The preferred text follows the pair's rule; ``noise`` flips labels at random. Rules
are orthogonal, so a principle is relevant only to its own rule's pairs.

:func:`literal_judge` is a :class:`~judgekit.judges.fakes.ScriptedJudge` that answers the
three ICAI requests by applying principle texts literally, by keyword:

- proposals: for each attribute in which the preferred text wins, a phrasing of that rule
  (phrasings vary, so clustering has paraphrases to merge), plus one distractor that no
  rule supports;
- votes: the keyword's rule picks a text, or ``C`` (not relevant) when the texts do not
  differ in it or no keyword matches;
- pairwise reconstruction: with principles in the criteria, the first relevant one decides
  (a tie when none is); with the default criteria, an order-free coin flip.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.judges.fakes import ScriptedJudge
from judgekit.types import JudgeRequest, JudgeResponse

RULES = ("shorter", "no_emoji", "number", "formal")
LENGTH_RATIO = 1.25
SLANG = frozenset({"gonna", "wanna", "kinda", "ya", "yeah", "cool", "stuff", "lol", "dude"})
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_WORD = re.compile(r"[A-Za-z0-9']+")

# (prompt, formal answer with no digit, (digit sentence, same with the number in words))
_ITEMS = (
    (
        "How can I sleep better?",
        "Keep a regular schedule and avoid screens before bed.",
        ("Aim for 8 hours each night.", "Aim for eight hours each night."),
    ),
    (
        "How do I start running?",
        "Begin slowly and alternate walking with gentle jogging.",
        ("Run 3 times a week at first.", "Run three times a week at first."),
    ),
    (
        "How should I water a cactus?",
        "Water it sparingly and let the soil dry out completely.",
        ("Once every 2 weeks is usually enough.", "Once every two weeks is usually enough."),
    ),
    (
        "How can I learn a new language?",
        "Practise a little every day and speak with native speakers.",
        ("Learn 10 new words each day.", "Learn ten new words each day."),
    ),
    (
        "How do I make good coffee?",
        "Use freshly ground beans and water just below boiling.",
        ("Brew it for 4 minutes.", "Brew it for four minutes."),
    ),
    (
        "How can I save money?",
        "Track your spending and set a monthly budget.",
        ("Put aside 20 percent of your income.", "Put aside twenty percent of your income."),
    ),
)
_FILLER = (
    "There are of course many further aspects that one could consider here, and every "
    "situation is different in its own way."
)
_FORMAL_SLANG = (
    ("That is quite useful.", "That is kinda cool."),
    ("You will probably like it.", "Ya gonna probably like it."),
    ("Yes, that works well.", "Yeah, that works lol."),
)
_EMOJI_TAIL = (" 🙂", " ✨", " 🚀")


def _variant(rule: str, item: tuple[str, str, tuple[str, str]], k: int) -> tuple[str, str]:
    """(text that follows ``rule``, text that breaks it), differing only in the rule's
    attribute."""
    _, base, (digits, words) = item
    if rule == "shorter":
        return base, f"{base} {_FILLER}"
    if rule == "number":
        return f"{base} {digits}", f"{base} {words}"
    if rule == "no_emoji":
        return base, base + _EMOJI_TAIL[k % len(_EMOJI_TAIL)]
    if rule == "formal":
        formal, slang = _FORMAL_SLANG[k % len(_FORMAL_SLANG)]
        return f"{base} {formal}", f"{base} {slang}"
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def synthetic_preferences(
    n: int,
    *,
    rules: Sequence[str] = RULES,
    noise: float = 0.1,
    tie_rate: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """``n`` pairs (``prompt``, ``text_a``, ``text_b``, ``preferred``, plus the planted
    ``rule`` and whether the label was ``flipped`` by noise), in the ``pairs`` shape."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rule = rules[i % len(rules)]
        item = _ITEMS[int(rng.integers(len(_ITEMS)))]
        good, bad = _variant(rule, item, int(rng.integers(3)))
        good_first = bool(rng.random() < 0.5)
        preferred = "a" if good_first else "b"
        flipped = bool(rng.random() < noise)
        if flipped:
            preferred = "b" if preferred == "a" else "a"
        if rng.random() < tie_rate:
            preferred = "tie"
        text_a, text_b = (good, bad) if good_first else (bad, good)
        rows.append(
            {
                "prompt": item[0],
                "text_a": text_a,
                "text_b": text_b,
                "preferred": preferred,
                "rule": rule,
                "flipped": flipped,
            }
        )
    return pd.DataFrame(rows)


# -- the literal judge ------------------------------------------------------------------------

# Checked in order: "shorter" before "longer", so "shorter and less verbose" stays shorter.
_KEYWORDS = (
    ("shorter", ("shorter", "concise", "brief", "succinct")),
    ("longer", ("longer", "detailed", "elaborate", "verbose")),
    ("number", ("number", "digit", "numeric", "figure")),
    ("no_emoji", ("emoji",)),
    ("formal", ("formal", "slang", "professional")),
)
_PHRASES = {
    "shorter": (
        "Select the response that is shorter.",
        "Select the response that is more concise.",
        "Select the response that is brief and concise.",
    ),
    "longer": ("Select the response that is longer and more detailed.",),
    "number": (
        "Select the response that contains a number.",
        "Select the response that includes a specific number.",
        "Select the response that uses digits for numbers.",
    ),
    "no_emoji": (
        "Select the response that does not use emoji.",
        "Select the response that avoids emoji.",
        "Select the response that has no emojis.",
    ),
    "formal": (
        "Select the response that uses a formal tone.",
        "Select the response that avoids slang.",
        "Select the response that is more formal and avoids slang.",
    ),
}
_DISTRACTORS = (
    "Select the response that is more polite.",
    "Select the response that sounds more confident.",
    "Select the response that is friendlier.",
)
_FENCED = r"<<<BEGIN {label} (\w+)>>>\n(.*?)\n<<<END {label} \1>>>"
_PRINCIPLE = re.compile(r"Select the response that [^.]*\.")


def rule_of(principle: str) -> str | None:
    """The rule a principle's keywords name, or None."""
    lowered = principle.lower()
    for rule, words in _KEYWORDS:
        if any(word in lowered for word in words):
            return rule
    return None


def prefers(rule: str, first: str, second: str) -> int | None:
    """1 or 2: which text ``rule`` selects; None when they do not differ in it."""
    if rule in ("shorter", "longer"):
        n1, n2 = len(_WORD.findall(first)), len(_WORD.findall(second))
        if max(n1, n2) < LENGTH_RATIO * max(1, min(n1, n2)):
            return None
        shorter = 1 if n1 < n2 else 2
        return shorter if rule == "shorter" else 3 - shorter
    features = {
        "number": lambda t: bool(re.search(r"\d", t)),
        "no_emoji": lambda t: not _EMOJI.search(t),
        "formal": lambda t: not ({w.lower() for w in _WORD.findall(t)} & SLANG),
    }
    has1, has2 = features[rule](first), features[rule](second)
    if has1 == has2:
        return None
    return 1 if has1 else 2


def _fenced(text: str, label: str) -> str:
    match = re.search(_FENCED.format(label=re.escape(label)), text, re.DOTALL)
    if match is None:
        raise ValueError(f"no {label} block in the request")
    return match.group(2)


def _answer(letter: str, request: JudgeRequest) -> JudgeResponse:
    if request.choices:
        probs = {c: (1.0 if c == letter else 0.0) for c in request.choices}
        return JudgeResponse(text=letter, choice_probs=probs)
    return JudgeResponse(text=letter if "[Principle]" in _content(request) else f"[[{letter}]]")


def _content(request: JudgeRequest) -> str:
    return request.messages[-1].content


def _letter(choice: int | None) -> str:
    return {1: "A", 2: "B"}.get(choice or 0, "C")


def _pick(options: Sequence[str], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]


def _propose(text: str) -> str:
    first, second = _fenced(text, "RESPONSE A"), _fenced(text, "RESPONSE B")
    preferred_first = "preferred Response A" in text
    good, other = (first, second) if preferred_first else (second, first)
    found = []
    for rule in ("shorter", "longer", "number", "no_emoji", "formal"):
        if prefers(rule, good, other) == 1:
            found.append(_pick(_PHRASES[rule], good + other))
    found.append(_pick(_DISTRACTORS, other + good))
    lines = [f"{i}. {p}" for i, p in enumerate(found, start=1)]
    # Continue the assistant prefix ("1. Select the response that") as a real model would.
    return lines[0].removeprefix("1. Select the response that") + "\n" + "\n".join(lines[1:])


def _reconstruct(text: str) -> str:
    first, second = _fenced(text, "RESPONSE A"), _fenced(text, "RESPONSE B")
    # The principles are the criteria: whatever the template's wording, they are the only
    # "Select the response that" sentences outside the fenced data.
    outside = re.sub(_FENCED.format(label=r"[A-Z ]+?"), "", text, flags=re.DOTALL)
    principles = _PRINCIPLE.findall(outside)
    if not principles:
        # No constitution: an order-free coin flip, so both orders agree.
        lo, hi = sorted((first, second))
        coin = int(hashlib.sha256(f"{lo}\x00{hi}".encode()).hexdigest(), 16) % 2
        return "A" if (first == lo) == (coin == 0) else "B"
    for principle in principles:
        rule = rule_of(principle)
        choice = prefers(rule, first, second) if rule else None
        if choice is not None:
            return _letter(choice)
    return "C"


def _literal(request: JudgeRequest) -> JudgeResponse:
    text = _content(request)
    if "[Principle]" in text:
        principle = text.split("[Principle]\n", 1)[1].split("\n", 1)[0]
        rule = rule_of(principle)
        first, second = _fenced(text, "RESPONSE A"), _fenced(text, "RESPONSE B")
        return _answer(_letter(prefers(rule, first, second) if rule else None), request)
    if "preferred Response" in text:
        return JudgeResponse(text=_propose(text))
    return _answer(_reconstruct(text), request)


def literal_judge(*, logprobs: bool = True) -> ScriptedJudge:
    """A scripted judge that applies principle texts literally (see the module docstring).

    Args:
        logprobs: answer choice requests with one-hot probabilities (as a logprob judge
            would); otherwise votes and verdicts come back as text to be parsed.
    """
    return ScriptedJudge(
        _literal, supports_logprobs=logprobs, judge_id="fake/literal", batch_size=256
    )
