"""Fence untrusted text (prompts, candidate outputs) so that it cannot pass for instructions.

A fenced block reads ``<<<BEGIN label TAG>>> … <<<END label TAG>>>``. The tag is a secret:

- While a request is built, each marker holds :data:`FENCE_SLOT` instead of a tag, so the
  request (and its hash, the cache key) depends only on the unfenced text and the fence
  scheme. Cached verdicts stay reusable from one run to the next.
- Right before a request goes to a judge, :func:`seal` fills every slot with one tag drawn
  from :mod:`secrets` for that request (64 random bits), which occurs nowhere else in it.

A candidate therefore cannot end its block early: it cannot guess the tag, and a tag copied
from an earlier prompt (or computed from the text, as a deterministic scheme would allow) is
not the one used next time. The slot character itself is replaced inside fenced text, so a
candidate cannot plant a slot that :func:`seal` would fill.
"""

from __future__ import annotations

import dataclasses
import secrets

from judgekit.types import FENCE_SLOT, JudgeRequest, Message, unsealed_text

__all__ = ["FENCE_SLOT", "fence", "new_tag", "seal", "unseal"]
_SLOT_STANDIN = "\ufffd"
TAG_BYTES = 8


def fence(text: str, *, label: str) -> str:
    """Wrap ``text`` in ``<<<BEGIN label ⟨slot⟩>>> … <<<END label ⟨slot⟩>>>`` markers."""
    safe = text.replace(FENCE_SLOT, _SLOT_STANDIN)
    return f"<<<BEGIN {label} {FENCE_SLOT}>>>\n{safe}\n<<<END {label} {FENCE_SLOT}>>>"


def new_tag(*, avoid: str = "") -> str:
    """A fresh random tag that does not occur in ``avoid``."""
    while True:
        tag = secrets.token_hex(TAG_BYTES)
        if tag not in avoid:
            return tag


def seal(request: JudgeRequest) -> JudgeRequest:
    """``request`` with every fence slot filled by one secret tag, new for each call.

    Requests without fences come back unchanged.
    """
    if not any(FENCE_SLOT in m.content for m in request.messages) and (
        FENCE_SLOT not in request.assistant_prefix
    ):
        return request
    everything = "\n".join(m.content for m in request.messages) + request.assistant_prefix
    tag = new_tag(avoid=everything)
    messages = tuple(Message(m.role, m.content.replace(FENCE_SLOT, tag)) for m in request.messages)
    return dataclasses.replace(
        request,
        messages=messages,
        assistant_prefix=request.assistant_prefix.replace(FENCE_SLOT, tag),
    )


def unseal(request: JudgeRequest) -> JudgeRequest:
    """The inverse of :func:`seal`: tags back to slots, so ``hash_for`` gives the cache key."""
    messages = tuple(Message(m.role, unsealed_text(m.content)) for m in request.messages)
    return dataclasses.replace(
        request, messages=messages, assistant_prefix=unsealed_text(request.assistant_prefix)
    )
