"""Value objects that flow through judgekit: frozen dataclasses, no behaviour beyond hashing.

Data flow: Item + Candidate -> JudgeRequest -> JudgeResponse -> Verdict (one per order)
-> Outcome (one per comparison) -> Ratings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

HASH_PREFIX = "v1:"

FENCE_SLOT = "\ue000"
"""Where a fence's secret tag goes until the request is sent (see ``protocols.fencing``)."""
_SEALED_MARKER = re.compile(r"(<<<(?:BEGIN|END) [^<>\n]* )[0-9a-f]{16}(>>>)")


def unsealed_text(text: str) -> str:
    """``text`` with the secret tags of fence markers put back to :data:`FENCE_SLOT`.

    A sealed request's text differs on every call; this gives back the form its hash was
    taken from, for judges that must answer a request deterministically (fakes, tests).
    """
    return _SEALED_MARKER.sub(lambda m: m.group(1) + FENCE_SLOT + m.group(2), text)


Status = Literal["ok", "error"]
VerdictStatus = Literal["ok", "parse_error", "judge_error", "dropped"]


@dataclass(frozen=True)
class Item:
    """One prompt that several systems answered.

    A multi-turn prompt keeps every user turn in ``turns`` (``prompt`` is the first) and,
    when the reference answers every turn, those answers in ``reference_turns``
    (``reference`` is the first). A single-turn prompt leaves both empty.
    """

    prompt_id: str
    prompt: str
    reference: str | None = None
    category: str | None = None
    turns: tuple[str, ...] = ()
    reference_turns: tuple[str, ...] = ()

    @property
    def n_turns(self) -> int:
        return max(1, len(self.turns))


@dataclass(frozen=True)
class Candidate:
    """One system's output for one prompt; ``turns`` holds every assistant turn of a
    multi-turn conversation (``output`` is the first), empty for a single turn."""

    prompt_id: str
    model: str
    output: str
    turns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class JudgeRequest:
    """A single call to a judge.

    ``choices`` non-empty asks for a *choice* verdict: the backend returns the normalised
    next-token probabilities of these strings right after ``assistant_prefix`` (one forward
    pass, no generation) when it supports logprobs. Otherwise it generates text.
    """

    messages: tuple[Message, ...]
    choices: tuple[str, ...] = ()
    assistant_prefix: str = ""
    max_tokens: int = 512
    temperature: float = 0.0

    def params(self) -> dict[str, Any]:
        return {
            "choices": list(self.choices),
            "assistant_prefix": self.assistant_prefix,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def hash_for(self, judge_id: str) -> str:
        """``"v1:" + sha256(canonical JSON of judge id, messages, params)``."""
        payload = {
            "judge": judge_id,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "params": self.params(),
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return HASH_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class JudgeResponse:
    """What a judge returned for one request. Failures are data (``status="error"``)."""

    text: str = ""
    choice_probs: dict[str, float] | None = None
    top_logprobs: dict[str, float] | None = None
    status: Status = "ok"
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None


@dataclass(frozen=True)
class Verdict:
    """One order's parsed verdict in a pairwise comparison, in *position* terms.

    ``p_first``/``p_second``/``p_tie`` sum to 1 when the status is ok. A discrete verdict
    has one of them at 1.0 and ``discrete=True``.
    """

    status: VerdictStatus
    p_first: float = 0.0
    p_second: float = 0.0
    p_tie: float = 0.0
    discrete: bool = False
    raw: str = ""
    error: str | None = None

    @property
    def label(self) -> Literal["first", "second", "tie"] | None:
        if self.status != "ok":
            return None
        probs = {"first": self.p_first, "second": self.p_second, "tie": self.p_tie}
        return max(probs, key=lambda k: probs[k])  # type: ignore[return-value]


@dataclass(frozen=True)
class Outcome:
    """The order-free result of comparing ``model_a`` with ``model_b`` on one prompt.

    ``win_a + win_b + tie == 1`` when ``status == "ok"``. ``score_a = win_a + tie / 2``.
    """

    prompt_id: str
    model_a: str
    model_b: str
    win_a: float
    win_b: float
    tie: float
    flipped: bool
    status: VerdictStatus = "ok"

    @property
    def score_a(self) -> float:
        return self.win_a + 0.5 * self.tie

    @property
    def winner(self) -> str:
        """``model_a``, ``model_b`` or ``"tie"``; a clear majority of probability decides."""
        if self.win_a > max(self.win_b, self.tie):
            return self.model_a
        if self.win_b > max(self.win_a, self.tie):
            return self.model_b
        return "tie"


@dataclass(frozen=True)
class Ratings:
    """Ratings on the Elo scale with optional CIs, the output of every ranker."""

    models: tuple[str, ...]
    rating: tuple[float, ...]
    method: str
    ci_low: tuple[float, ...] | None = None
    ci_high: tuple[float, ...] | None = None
    identifiable: tuple[bool, ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
