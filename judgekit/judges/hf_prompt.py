"""Render judge requests with a chat template and tokenise them safely, for hf and vLLM.

**Special tokens in untrusted text.** Candidate answers are data. If a candidate writes
``<|im_end|>`` or ``<|im_start|>assistant``, a plain ``tokenizer(text)`` turns those strings
into the real control tokens, and the candidate could close the judge's turn and speak as
the assistant. Here only the chat template may produce control tokens: the message contents
are tokenised with ``split_special_tokens=True`` (the string ``<|im_end|>`` becomes the
ordinary tokens ``<``, ``|``, ``im`` ...), and the template's own text keeps its specials.

Texts without special-token strings in their contents (all ordinary ones) are tokenised
exactly as before, in one call over the whole prompt, so their verdicts do not change; only
a prompt whose contents hold a special token takes the piecewise path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.types import JudgeRequest

# Private-use code points: they never occur in real text, and a chat template copies them
# through unchanged, so they show where each message's content lands in the rendered prompt.
_OPEN, _CLOSE = "\ue000", "\ue001"


class ItemError(ValueError):
    """A failure that belongs to one request; it becomes that request's error response."""


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt and the character spans of the message contents inside it."""

    text: str
    content_spans: tuple[tuple[int, int], ...]


def render(tokenizer: Any, request: JudgeRequest, specials: Sequence[str] = ()) -> Rendered:
    """The exact prompt text the model sees (chat template, then ``assistant_prefix``).

    Raises:
        ItemError: the request has no messages, or the chat template fails on it.
    """
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if not messages:
        raise ItemError("request has no messages")
    if not getattr(tokenizer, "chat_template", None):
        # Base models ship no template; a plain transcript is the usual convention.
        parts: list[str] = []
        spans: list[tuple[int, int]] = []
        at = 0
        for m in messages:
            head = f"{m['role']}: "
            parts += [head, m["content"], "\n\n"]
            spans.append((at + len(head), at + len(head) + len(m["content"])))
            at += len(head) + len(m["content"]) + 2
        text = "".join(parts) + "assistant: " + request.assistant_prefix
        return Rendered(text, tuple(spans))
    text = _apply(tokenizer, messages) + request.assistant_prefix
    markers = [{**m, "content": f"{_OPEN}{i}{_CLOSE}"} for i, m in enumerate(messages)]
    skeleton = _apply(tokenizer, markers) + request.assistant_prefix
    spans = _content_spans(skeleton, [m["content"] for m in messages], text)
    if spans is not None:
        return Rendered(text, spans)
    # A template that rewrites contents (trims them, say) hides where they land. Then the
    # special-token strings in the contents are broken up with a word joiner instead, which
    # no tokenizer reads as a control token.
    escaped = [{**m, "content": _escape(m["content"], specials)} for m in messages]
    return Rendered(_apply(tokenizer, escaped) + request.assistant_prefix, ())


def _escape(text: str, specials: Sequence[str]) -> str:
    for s in specials:
        if len(s) > 1:
            text = text.replace(s, s[0] + "\u2060" + s[1:])
    return text


def _apply(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    try:
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # a chat template is user Jinja code: it can raise anything
        raise ItemError(f"chat template failed: {exc}") from exc
    return str(out)


def _content_spans(
    skeleton: str, contents: list[str], text: str
) -> tuple[tuple[int, int], ...] | None:
    """Spans of ``contents`` in ``text``, located by the markers in ``skeleton``."""
    spans: list[tuple[int, int]] = []
    out: list[str] = []
    at = 0
    rest = skeleton
    for i, content in enumerate(contents):
        marker = f"{_OPEN}{i}{_CLOSE}"
        if rest.count(marker) != 1:
            return None
        head, rest = rest.split(marker)
        out += [head, content]
        at += len(head)
        spans.append((at, at + len(content)))
        at += len(content)
    out.append(rest)
    return tuple(spans) if "".join(out) == text else None


def special_strings(tokenizer: Any) -> list[str]:
    """The texts of the tokenizer's special (control) tokens, longest first."""
    found = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            found.add(str(token.content if hasattr(token, "content") else token))
    return sorted((s for s in found if s), key=len, reverse=True)


def encode(tokenizer: Any, prompts: Sequence[Rendered], specials: Sequence[str]) -> list[list[int]]:
    """Token ids of ``prompts``; special-token strings inside contents stay plain text."""
    if not prompts:
        return []
    # One tokenizer call for the whole batch: the fast tokenizer parallelises it in Rust.
    ids: list[list[int]] = tokenizer([p.text for p in prompts], add_special_tokens=False)[
        "input_ids"
    ]
    for k, prompt in enumerate(prompts):
        if any(s in prompt.text[a:b] for a, b in prompt.content_spans for s in specials):
            ids[k] = _encode_piecewise(tokenizer, prompt)
    return ids


def _encode_piecewise(tokenizer: Any, prompt: Rendered) -> list[int]:
    """Template text with its specials, contents with ``split_special_tokens=True``."""
    ids: list[int] = []
    at = 0
    for a, b in prompt.content_spans:
        if a > at:
            ids += tokenizer(prompt.text[at:a], add_special_tokens=False)["input_ids"]
        if b > a:
            ids += tokenizer(prompt.text[a:b], add_special_tokens=False, split_special_tokens=True)[
                "input_ids"
            ]
        at = b
    if at < len(prompt.text):
        ids += tokenizer(prompt.text[at:], add_special_tokens=False)["input_ids"]
    return ids
