"""Fence untrusted text (prompts, candidate outputs) so that it cannot pass for instructions.

A fenced block reads ``<<<BEGIN label TAG>>> … <<<END label TAG>>>``. The tag is a secret:

- While a request is built, each marker holds :data:`FENCE_SLOT` instead of a tag, so the
  request (and its hash, the cache key) depends only on the unfenced text and the fence
  scheme. Cached verdicts stay reusable from one run to the next.
- Right before a request goes to a judge, :func:`seal` fills every slot with one tag (64
  bits) that occurs nowhere else in it: an HMAC-SHA256, under a key, of the request up to its
  second fence marker (the template head and the first fenced block, usually the question).
  The runner draws the key from :mod:`secrets` for each run, unless ``JUDGEKIT_FENCE_KEY``
  holds one.

A candidate therefore cannot end its block early: without the key it cannot compute the tag,
and a tag copied from an earlier run is not the one used next time. The slot character itself
is replaced inside fenced text, so a candidate cannot plant a slot that :func:`seal` would
fill.

Why an HMAC of the head rather than fresh random bits per request: the calls of one prompt
(every pair, both orders) then share their tag, so their token prefix runs on through the
question and the hf backend's prefix reuse and vLLM's prefix cache still compute it once.

Why a key from the environment: a model reads the tag like any other text, so a new tag moves
a small judge's verdicts a little (about 1e-2 in probability for the embedded judge), and two
runs on empty stores with their own random keys differ. With ``JUDGEKIT_FENCE_KEY`` every run
uses the same tags. A key that is published (as ``make demo``'s is) makes the tags computable,
so it suits outputs that no adversary wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import os
import secrets

from judgekit.types import FENCE_SLOT, JudgeRequest, Message, unsealed_text

__all__ = [
    "FENCE_KEY_ENV",
    "FENCE_SLOT",
    "fence",
    "fence_key",
    "keyed_tag",
    "new_tag",
    "run_key",
    "seal",
    "unseal",
]
_SLOT_STANDIN = "\ufffd"
TAG_BYTES = 8
FENCE_KEY_ENV = "JUDGEKIT_FENCE_KEY"
"""The environment variable that holds a key for reproducible tags (see the module notes)."""


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


def fence_key() -> bytes | None:
    """The key in :data:`FENCE_KEY_ENV`, or None (random tags) when it is unset or empty."""
    value = os.environ.get(FENCE_KEY_ENV, "")
    return value.encode() if value else None


def keyed_tag(key: bytes, text: str, *, avoid: str) -> str:
    """The tag of ``text`` under ``key``: an HMAC-SHA256 that does not occur in ``avoid``."""
    for counter in itertools.count():
        message = f"{counter}\n{text}".encode()
        tag = hmac.new(key, message, hashlib.sha256).hexdigest()[: 2 * TAG_BYTES]
        if tag not in avoid:
            return tag
    raise AssertionError("unreachable")  # pragma: no cover


def run_key() -> bytes:
    """The key of one run's tags: ``JUDGEKIT_FENCE_KEY``, else 256 fresh random bits."""
    return fence_key() or secrets.token_bytes(32)


def seal(request: JudgeRequest, *, key: bytes | None = None) -> JudgeRequest:
    """``request`` with every fence slot filled by one tag that occurs nowhere else in it.

    With ``key`` (a run's, from :func:`run_key`) the tag is the HMAC of the request's head,
    everything up to its second fence slot, so requests that share that head share the tag.
    Without one, the tag is drawn at random for this call. Requests without fences come back
    unchanged.
    """
    if not any(FENCE_SLOT in m.content for m in request.messages) and (
        FENCE_SLOT not in request.assistant_prefix
    ):
        return request
    # Roles are part of the head: the same text under another role is another request.
    everything = "\n".join(f"{m.role}\n{m.content}" for m in request.messages)
    everything += "\n" + request.assistant_prefix
    if key is None:
        tag = new_tag(avoid=everything)
    else:
        first = everything.find(FENCE_SLOT)
        second = everything.find(FENCE_SLOT, first + 1)
        head = everything if second < 0 else everything[:second]
        tag = keyed_tag(key, head, avoid=everything)
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
