"""Zero-dependency fake judges for tests and dry runs.

- ``ScriptedJudge``: answers from a queue of texts or a function of the request.
- ``FixedJudge``: always prefers one position, which proves that debiasing works.
- ``HashJudge``: deterministic pseudo-random probabilities derived from the request hash;
  ``fake/slow-hash-50ms`` also sleeps 50 ms per request, like an I/O-bound endpoint.

Built directly, they record every request in ``calls`` for tests to inspect.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from judgekit.errors import ConfigError
from judgekit.judges.base import Judge
from judgekit.types import JudgeRequest, JudgeResponse, Message, unsealed_text

Script = Callable[[JudgeRequest], JudgeResponse | str]


class ScriptedJudge:
    """Answers each request with the next scripted reply, or with ``fn(request)``.

    Args:
        replies: texts or responses to hand out in order, or a function of the request.
        supports_logprobs: whether protocols may ask this judge for choice probabilities.
    """

    def __init__(
        self,
        replies: Iterable[JudgeResponse | str] | Script,
        *,
        supports_logprobs: bool = False,
        judge_id: str = "fake/scripted",
        batch_size: int = 16,
    ) -> None:
        self.id = judge_id
        self.supports_logprobs = supports_logprobs
        self.batch_size = batch_size
        self.calls: list[JudgeRequest] = []
        self._fn: Script | None = replies if callable(replies) else None
        self._queue: deque[JudgeResponse | str] = deque() if callable(replies) else deque(replies)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        out: list[JudgeResponse] = []
        for request in requests:
            self.calls.append(request)
            if self._fn is not None:
                reply = self._fn(request)
            elif self._queue:
                reply = self._queue.popleft()
            else:
                reply = JudgeResponse(status="error", error="ScriptedJudge ran out of replies")
            out.append(JudgeResponse(text=reply) if isinstance(reply, str) else reply)
        return out


class FixedJudge:
    """Always prefers the same position (``"A"`` = the first candidate shown)."""

    def __init__(
        self, position: str = "A", *, supports_logprobs: bool = True, record: bool = True
    ) -> None:
        self.id = f"fake/always-{position.lower()}"
        self.position = position
        self.supports_logprobs = supports_logprobs
        self.batch_size = 64
        self.record = record
        self.calls: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        if self.record:
            self.calls.extend(requests)
        out = []
        for request in requests:
            if request.choices and self.supports_logprobs:
                probs = {c: (1.0 if c == self.position else 0.0) for c in request.choices}
                out.append(JudgeResponse(text=self.position, choice_probs=probs))
            else:
                out.append(JudgeResponse(text=f"Both are fine.\n[[{self.position}]]"))
        return out


class HashJudge:
    """Deterministic pseudo-random choice probabilities, seeded by the request content."""

    def __init__(
        self, *, record: bool = True, delay_s: float = 0.0, judge_id: str = "fake/hash"
    ) -> None:
        self.id = judge_id
        self.delay_s = delay_s
        self.supports_logprobs = True
        self.batch_size = 64
        self.record = record
        self.calls: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        if self.record:
            self.calls.extend(requests)
        if self.delay_s:
            # An I/O-bound endpoint: the wait is per request, and it holds no CPU.
            time.sleep(self.delay_s * len(requests))
        out = []
        for request in requests:
            choices = request.choices or ("A", "B", "C")
            # Seeded by the content without the fence tags, which are new on every call.
            digest = hashlib.sha256(_stable_hash(request, self.id).encode()).digest()
            weights = [1 + b for b in digest[: len(choices)]]
            total = float(sum(weights))
            probs = {c: w / total for c, w in zip(choices, weights, strict=True)}
            best = max(probs, key=lambda c: probs[c])
            out.append(JudgeResponse(text=f"[[{best}]]", choice_probs=probs))
        return out


def fake_judge(name: str) -> Judge:
    """Build the fake judge named in a ``fake/<name>`` id.

    Judges built from an id are used for dry runs and load tests, where nobody can read
    ``calls``; they keep no record, so 100k comparisons do not hold 200k prompts in memory.
    """
    if name in ("always-a", "always-b"):
        return FixedJudge(name[-1].upper(), record=False)
    if name == "hash":
        return HashJudge(record=False)
    slow = re.fullmatch(r"slow-hash-(\d+)ms", name)
    if slow:
        delay_s = int(slow.group(1)) / 1000
        return HashJudge(record=False, delay_s=delay_s, judge_id=f"fake/{name}")
    raise ConfigError(
        f"unknown fake judge {name!r}; use fake/always-a, fake/always-b, fake/hash or "
        "fake/slow-hash-<N>ms (fake/hash that sleeps N ms per request)"
    )


def _stable_hash(request: JudgeRequest, judge_id: str) -> str:
    """``request.hash_for(judge_id)`` as taken before the fence tags were drawn."""
    messages = tuple(Message(m.role, unsealed_text(m.content)) for m in request.messages)
    return JudgeRequest(
        messages=messages,
        choices=request.choices,
        assistant_prefix=unsealed_text(request.assistant_prefix),
        max_tokens=request.max_tokens,
        temperature=request.temperature,
    ).hash_for(judge_id)
