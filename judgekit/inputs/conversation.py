"""Multi-turn conversations in output files: OpenAI ``messages`` lists and MT-Bench turns.

A row of an outputs file is a multi-turn conversation when it carries either

- ``messages``: the OpenAI chat format, ``[{"role": "user", "content": ...},
  {"role": "assistant", "content": ...}, ...]``, alternating user and assistant turns,
  starting with the user and ending with the assistant (a CSV cell may hold it as JSON); or
- ``choices``: an MT-Bench answer, whose ``choices[0].turns`` holds the assistant turns,
  together with the question's user turns in ``turns``.

A reference may be a list with one answer per turn (MT-Bench's ``reference``). A
conversation of one turn is an ordinary single-turn row. Every check names file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.errors import InputError
from judgekit.types import Item

#: Columns that hold the first turn's prompt or answer in single-turn rows; a multi-turn row
#: may repeat them only when they agree with its first turn.
FIRST_PROMPT_KEYS = ("prompt", "instruction", "question")
FIRST_OUTPUT_KEYS = ("output", "response", "answer", "completion")
_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Conversation:
    """The user and assistant turns of one row, equally many."""

    user: tuple[str, ...]
    assistant: tuple[str, ...]

    @property
    def n_turns(self) -> int:
        return len(self.user)


def _as_list(value: Any, *, json_text: bool = True) -> Any:
    # Parquet gives numpy arrays for list cells; CSV cells can only hold JSON text. A
    # reference is never read as JSON: "[1, 2, 3]" is a fine single-turn answer.
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if json_text and isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _turn_text(value: Any, *, name: str, path: str, line: int | None) -> str:
    if not isinstance(value, str):
        raise InputError(
            f"{name} must be a string, got {type(value).__name__}", path=path, line=line
        )
    if not value.strip():
        raise InputError(
            f"{name} is empty; every turn of a conversation needs its text", path=path, line=line
        )
    return value


def _from_messages(value: Any, *, path: str, line: int | None) -> Conversation:
    messages = _as_list(value)
    if not isinstance(messages, list) or not messages:
        raise InputError(
            "'messages' must be a non-empty list of {role, content} objects", path=path, line=line
        )
    user: list[str] = []
    assistant: list[str] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping) or "role" not in message:
            raise InputError(
                f"{where} must be an object with role and content", path=path, line=line
            )
        role = message["role"]
        expected = _ROLES[index % 2]
        if role == "system":
            raise InputError(
                f"{where} has role 'system'; judged conversations hold user and assistant "
                "turns only: drop the system message or fold its text into the first user turn",
                path=path,
                line=line,
            )
        if role != expected:
            raise InputError(
                f"{where} has role {role!r} where {expected!r} was expected: turns must "
                "alternate user, assistant, user, assistant, starting with the user",
                path=path,
                line=line,
            )
        text = _turn_text(message.get("content"), name=f"{where}.content", path=path, line=line)
        (user if role == "user" else assistant).append(text)
    if len(user) != len(assistant):
        raise InputError(
            f"messages end with a user turn (messages[{len(messages) - 1}]) that has no "
            "assistant answer to judge",
            path=path,
            line=line,
        )
    return Conversation(tuple(user), tuple(assistant))


def _from_choices(row: Mapping[str, Any], *, path: str, line: int | None) -> Conversation:
    choices = _as_list(row["choices"])
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise InputError("'choices' must be a list of objects", path=path, line=line)
    answers = _as_list(choices[0].get("turns"))
    if not isinstance(answers, list) or not answers:
        raise InputError("'choices[0].turns' must be a non-empty list", path=path, line=line)
    questions = _as_list(row.get("turns"))
    if not isinstance(questions, list) or not questions:
        raise InputError(
            "'choices[0].turns' needs the question's user turns in a 'turns' list",
            path=path,
            line=line,
        )
    if len(questions) != len(answers):
        raise InputError(
            f"'turns' has {len(questions)} user turn(s) but 'choices[0].turns' "
            f"{len(answers)} answer(s); each user turn needs one answer",
            path=path,
            line=line,
        )
    user = [
        _turn_text(
            q.get("content") if isinstance(q, Mapping) else q,
            name=f"turns[{k}]",
            path=path,
            line=line,
        )
        for k, q in enumerate(questions)
    ]
    assistant = [
        _turn_text(a, name=f"choices[0].turns[{k}]", path=path, line=line)
        for k, a in enumerate(answers)
    ]
    return Conversation(tuple(user), tuple(assistant))


def _check_first_turn(
    row: Mapping[str, Any], conversation: Conversation, *, path: str, line: int | None
) -> None:
    for keys, first in (
        (FIRST_PROMPT_KEYS, conversation.user[0]),
        (FIRST_OUTPUT_KEYS, conversation.assistant[0]),
    ):
        for key in keys:
            value = row.get(key)
            if isinstance(value, str) and value.strip() and value.strip() != first.strip():
                raise InputError(
                    f"{key!r} differs from the conversation's first turn; give the "
                    "conversation alone, or the same text in both",
                    path=path,
                    line=line,
                )


def _absent(value: Any) -> bool:
    # A table with conversations in some rows gives None or NaN in the others.
    return value is None or (isinstance(value, float) and value != value)


def _mtbench_choices(value: Any) -> bool:
    """Whether ``choices`` is MT-Bench's answer list; other tools' ``choices`` (raw API
    responses kept beside an ``output`` column) are left alone."""
    listed = _as_list(value)
    return (
        isinstance(listed, list)
        and bool(listed)
        and isinstance(listed[0], Mapping)
        and "turns" in listed[0]
    )


def read_conversation(
    row: Mapping[str, Any], *, path: str, line: int | None
) -> Conversation | None:
    """The conversation in ``row`` (``messages`` or ``choices``), or None for a plain row.

    Raises:
        InputError: roles out of order, an empty or non-text turn, a user turn without an
            answer, question and answer turns that do not pair up, or a ``prompt``/``output``
            column that contradicts the first turn; the message names file and line.
    """
    has_messages = not _absent(row.get("messages"))
    has_choices = _mtbench_choices(row.get("choices"))
    if has_messages and has_choices:
        raise InputError(
            "a row holds either 'messages' or 'choices', not both", path=path, line=line
        )
    if has_messages:
        conversation = _from_messages(row["messages"], path=path, line=line)
    elif has_choices:
        conversation = _from_choices(row, path=path, line=line)
    else:
        return None
    _check_first_turn(row, conversation, path=path, line=line)
    return conversation


def split_reference(
    value: Any, *, n_turns: int, path: str, line: int | None
) -> tuple[Any, tuple[str, ...]]:
    """``(first-turn reference, per-turn references)`` of a reference cell.

    A list holds one reference answer per turn (MT-Bench); references for every turn of a
    multi-turn prompt are kept, fewer leave the later turns without a reference. A plain
    value is returned unchanged with no per-turn references.
    """
    listed = _as_list(value, json_text=False)
    if not isinstance(listed, list):
        return value, ()
    texts = [
        _turn_text(r, name=f"reference[{k}]", path=path, line=line) for k, r in enumerate(listed)
    ]
    if not texts:
        return None, ()
    per_turn = tuple(texts[:n_turns]) if n_turns > 1 and len(texts) >= n_turns else ()
    return texts[0], per_turn


def check_same_conversation(
    known: Item, item: Item, *, model: str, first_seen: str, path: str, line: int | None
) -> None:
    """Refuse rows of one prompt whose user turns disagree, or that answer different numbers
    of turns: the turn-N comparison would judge different conversations."""
    if known.n_turns != item.n_turns:
        raise InputError(
            f"model {model!r} answers {item.n_turns} turn(s) of prompt {item.prompt_id!r}, "
            f"but the row at {first_seen} has {known.n_turns}; every model must answer the "
            "same turns of a prompt",
            path=path,
            line=line,
        )
    for k, (a, b) in enumerate(zip(known.turns, item.turns, strict=True), start=1):
        if a.strip() != b.strip():
            raise InputError(
                f"prompt_id {item.prompt_id!r} has a different user turn {k} than at {first_seen}",
                path=path,
                line=line,
            )


def conversation_messages(user: Sequence[str], assistant: Sequence[str]) -> list[dict[str, str]]:
    """The OpenAI ``messages`` list of alternating user and assistant turns."""
    out: list[dict[str, str]] = []
    for question, answer in zip(user, assistant, strict=True):
        out.append({"role": "user", "content": question})
        out.append({"role": "assistant", "content": answer})
    return out
