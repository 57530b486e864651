"""Pairwise preference data for constitution extraction: load, validate, split.

One preference is a prompt, two texts and a label: ``a``, ``b`` or ``tie``. Ties are kept
and counted, but only decided pairs explain a preference, so generation, voting and
reconstruction use those alone (as in Findeis et al., *Inverse Constitutional AI*, 2024).

Accepted shapes, detected per file from the first row's columns (or forced with ``format``):

- ``pairs``: ``text_a``, ``text_b`` and ``preferred`` (``a``/``b``/``tie``, also ``A``,
  ``text_a``, ``model_a``, ``1``/``2``); the prompt in ``prompt``, ``instruction``,
  ``question`` or ``input``, optional.
- ``icai``: the column-named CSV of the ICAI reference code: ``text_a``, ``text_b``,
  ``preferred_text`` (``text_a``, ``text_b``, ``tie``, ``tie (bothbad)``) and an optional
  ``input`` prompt. Without a prompt the texts carry the whole conversation.
- ``arena``: Chatbot Arena battles: ``conversation_a``/``conversation_b`` (lists of
  ``{role, content}`` messages) and ``winner`` (``model_a``, ``model_b``, ``tie``,
  ``tie (bothbad)``); also the Kaggle arena export with JSON-encoded ``prompt``,
  ``response_a``, ``response_b`` and 0/1 ``winner_model_a``/``winner_model_b``/``winner_tie``.
- ``mt_bench``: MT-Bench human judgments, arena-shaped plus ``turn``: only the first
  ``turn`` exchanges of each conversation were judged, so only those are kept.
- ``alpaca_eval``: AlpacaEval / AlpacaFarm annotations: ``instruction`` (+ ``input``),
  ``output_1``, ``output_2`` and ``preference`` (1 prefers ``output_1``, 2 ``output_2``,
  1.5 a draw; weighted annotators give values between, read by the nearer side).

Every error names the file and line (see :func:`judgekit.inputs.tabular.read_rows`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError, InputError
from judgekit.inputs.tabular import Row, is_missing, read_rows

Label = Literal["a", "b", "tie"]
Format = Literal["auto", "pairs", "icai", "arena", "mt_bench", "alpaca_eval"]
FORMATS: tuple[str, ...] = ("auto", "pairs", "icai", "arena", "mt_bench", "alpaca_eval")
PROMPT_KEYS = ("prompt", "instruction", "question", "input")

_LABELS: dict[str, Label] = {
    "a": "a",
    "text_a": "a",
    "model_a": "a",
    "response_a": "a",
    "1": "a",
    "b": "b",
    "text_b": "b",
    "model_b": "b",
    "response_b": "b",
    "2": "b",
    "tie": "tie",
    "tie (bothbad)": "tie",
    "draw": "tie",
    "c": "tie",
    "equal": "tie",
}
_LABEL_HELP = "a, b or tie (also A/B, text_a/text_b, model_a/model_b, 1/2, tie (bothbad))"


@dataclass(frozen=True)
class Preference:
    """One pairwise preference: which of two texts an annotator preferred for a prompt."""

    pair_id: str
    prompt: str
    text_a: str
    text_b: str
    preferred: Label
    source: str = ""
    """``file:line`` of the row, for messages and audits."""


@dataclass
class PreferenceSet:
    """Validated preferences from one or more files or DataFrames."""

    pairs: list[Preference]
    sources: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """The shape detected (or forced) for each source."""

    @property
    def decided(self) -> list[Preference]:
        return [p for p in self.pairs if p.preferred != "tie"]

    @property
    def n_ties(self) -> int:
        return sum(p.preferred == "tie" for p in self.pairs)

    def digest(self) -> str:
        """A content hash of everything that affects the extraction, for run ids."""
        h = hashlib.sha256()
        for p in self.pairs:
            h.update(repr((p.pair_id, p.prompt, p.text_a, p.text_b, p.preferred)).encode())
        return h.hexdigest()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "pair_id": [p.pair_id for p in self.pairs],
                "prompt": [p.prompt for p in self.pairs],
                "text_a": [p.text_a for p in self.pairs],
                "text_b": [p.text_b for p in self.pairs],
                "preferred": [p.preferred for p in self.pairs],
                "source": [p.source for p in self.pairs],
            }
        )


# -- shape detection ------------------------------------------------------------------------


def detect_format(row: Row, *, path: str, line: int) -> str:
    """The shape a row's columns belong to; an error lists what each shape needs."""
    keys = set(row)
    if {"conversation_a", "conversation_b", "winner"} <= keys:
        return "mt_bench" if "turn" in keys else "arena"
    if {"response_a", "response_b", "winner_model_a", "winner_model_b"} <= keys:
        return "arena"
    if {"output_1", "output_2", "preference"} <= keys:
        return "alpaca_eval"
    if {"text_a", "text_b", "preferred_text"} <= keys:
        return "icai"
    if {"text_a", "text_b", "preferred"} <= keys:
        return "pairs"
    raise InputError(
        "cannot tell the preference format from the columns "
        f"({', '.join(sorted(keys)) or 'none'}); expected text_a, text_b, preferred "
        "(or ICAI's preferred_text); conversation_a, conversation_b, winner (Chatbot Arena, "
        "MT-Bench); or instruction, output_1, output_2, preference (AlpacaEval)",
        path=path,
        line=line,
    )


# -- field helpers --------------------------------------------------------------------------


def _text(row: Row, key: str, *, path: str, line: int, required: bool = True) -> str:
    value = row.get(key)
    if is_missing(value):
        if required:
            raise InputError(f"missing or empty {key!r}", path=path, line=line)
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"{key!r} must be text, got {type(value).__name__}", path=path, line=line)
    return value


def _prompt(row: Row, *, path: str, line: int) -> str:
    for key in PROMPT_KEYS:
        if key in row and not is_missing(row[key]):
            return _text(row, key, path=path, line=line)
    return ""


def _label(value: Any, *, column: str, path: str, line: int) -> Label:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and value.strip().lower() in _LABELS:
        return _LABELS[value.strip().lower()]
    raise InputError(f"{column} is {value!r}; expected {_LABEL_HELP}", path=path, line=line)


# -- conversations (Chatbot Arena, MT-Bench) -----------------------------------------------


def _messages(value: Any, *, column: str, path: str, line: int) -> list[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InputError(
                f"{column} is text but not a JSON list of messages", path=path, line=line
            ) from None
    if hasattr(value, "tolist"):  # numpy arrays from some Parquet readers
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise InputError(f"{column} must be a non-empty list of messages", path=path, line=line)
    out = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise InputError(f"{column}[{index}] is not a message object", path=path, line=line)
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if not isinstance(role, str) or not isinstance(content, str):
            raise InputError(
                f"{column}[{index}] needs string 'role' and 'content'", path=path, line=line
            )
        role = {"human": "user", "gpt": "assistant"}.get(role.lower(), role.lower())
        out.append((role, content))
    return out


def _turns(
    messages: list[tuple[str, str]], *, turns: int | None, column: str, path: str, line: int
) -> tuple[list[str], list[str]]:
    """(user messages, assistant replies) of the first ``turns`` exchanges."""
    users: list[str] = []
    replies: list[str] = []
    for role, content in messages:
        if role == "user":
            if turns is not None and len(replies) >= turns:
                break
            users.append(content)
        elif role == "assistant":
            replies.append(content)
            if turns is not None and len(replies) >= turns:
                break
    if not users or not replies:
        raise InputError(
            f"{column} needs at least one user message and one assistant reply",
            path=path,
            line=line,
        )
    return users, replies


def _join_turns(parts: Sequence[str]) -> str:
    """A multi-turn exchange as one text; a single turn stays as it is."""
    if len(parts) == 1:
        return parts[0]
    return "\n\n".join(f"[Turn {i}] {text}" for i, text in enumerate(parts, start=1))


def _arena_row(row: Row, *, path: str, line: int, mt_bench: bool) -> tuple[str, str, str, Label]:
    if "conversation_a" not in row:
        return _arena_kaggle_row(row, path=path, line=line)
    turns = None
    if mt_bench and not is_missing(row.get("turn")):
        try:
            turns = int(row["turn"])
        except (TypeError, ValueError):
            raise InputError(
                f"turn is {row['turn']!r}; expected 1 or 2", path=path, line=line
            ) from None
        if turns < 1:
            raise InputError(f"turn is {turns}; expected 1 or more", path=path, line=line)
    conv_a = _messages(row.get("conversation_a"), column="conversation_a", path=path, line=line)
    conv_b = _messages(row.get("conversation_b"), column="conversation_b", path=path, line=line)
    users_a, replies_a = _turns(conv_a, turns=turns, column="conversation_a", path=path, line=line)
    _, replies_b = _turns(conv_b, turns=turns, column="conversation_b", path=path, line=line)
    label = _label(row.get("winner"), column="winner", path=path, line=line)
    return _join_turns(users_a), _join_turns(replies_a), _join_turns(replies_b), label


def _json_list(value: Any, *, column: str, path: str, line: int) -> list[str]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        value = parsed
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        # The Kaggle export writes a missing turn as null; it shows as an empty turn.
        return ["" if v is None else str(v) for v in value]
    raise InputError(f"{column} must be text or a JSON list of turns", path=path, line=line)


def _arena_kaggle_row(row: Row, *, path: str, line: int) -> tuple[str, str, str, Label]:
    prompt = _json_list(row.get("prompt", ""), column="prompt", path=path, line=line)
    text_a = _json_list(row.get("response_a"), column="response_a", path=path, line=line)
    text_b = _json_list(row.get("response_b"), column="response_b", path=path, line=line)
    flags = {}
    for key in ("winner_model_a", "winner_model_b", "winner_tie"):
        value = row.get(key, 0)
        try:
            flags[key] = int(float(value)) if not is_missing(value) else 0
        except (TypeError, ValueError):
            raise InputError(f"{key} is {value!r}; expected 0 or 1", path=path, line=line) from None
    if sum(flags.values()) != 1:
        raise InputError(
            "exactly one of winner_model_a, winner_model_b, winner_tie must be 1",
            path=path,
            line=line,
        )
    label: Label = "a" if flags["winner_model_a"] else "b" if flags["winner_model_b"] else "tie"
    return _join_turns(prompt), _join_turns(text_a), _join_turns(text_b), label


def _alpaca_row(row: Row, *, path: str, line: int) -> tuple[str, str, str, Label]:
    prompt = _text(row, "instruction", path=path, line=line, required=False)
    extra = _text(row, "input", path=path, line=line, required=False)
    if extra:
        prompt = f"{prompt}\n\n{extra}" if prompt else extra
    text_a = _text(row, "output_1", path=path, line=line)
    text_b = _text(row, "output_2", path=path, line=line)
    value = row.get("preference")
    try:
        pref = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pref = math.nan
    if math.isnan(pref) or not 1.0 <= pref <= 2.0:
        raise InputError(
            f"preference is {value!r}; expected 1 (output_1), 2 (output_2) or 1.5 (draw); "
            "0 or empty means the pair was never annotated",
            path=path,
            line=line,
        )
    label: Label = "tie" if math.isclose(pref, 1.5) else ("a" if pref < 1.5 else "b")
    return prompt, text_a, text_b, label


def _pairs_row(row: Row, *, path: str, line: int) -> tuple[str, str, str, Label]:
    text_a = _text(row, "text_a", path=path, line=line)
    text_b = _text(row, "text_b", path=path, line=line)
    column = next((c for c in ("preferred", "preferred_text") if c in row), None)
    if column is None:
        raise InputError(
            "missing 'preferred' (or ICAI's 'preferred_text') column", path=path, line=line
        )
    label = _label(row[column], column=column, path=path, line=line)
    return _prompt(row, path=path, line=line), text_a, text_b, label


def _normalise(row: Row, fmt: str, *, path: str, line: int) -> tuple[str, str, str, Label]:
    if fmt in ("arena", "mt_bench"):
        return _arena_row(row, path=path, line=line, mt_bench=fmt == "mt_bench")
    if fmt == "alpaca_eval":
        return _alpaca_row(row, path=path, line=line)
    return _pairs_row(row, path=path, line=line)


# -- loading --------------------------------------------------------------------------------

PrefsArg = str | Path | pd.DataFrame | Sequence[str | Path | pd.DataFrame]


def _rows(entry: str | Path | pd.DataFrame, name: str) -> Iterable[tuple[int, Row]]:
    if isinstance(entry, pd.DataFrame):
        for index, row in enumerate(entry.to_dict(orient="records")):
            yield index + 1, {str(k): v for k, v in row.items()}
    else:
        yield from read_rows(entry)


def pair_id_for(prompt: str, text_a: str, text_b: str) -> str:
    digest = hashlib.sha256(f"{prompt}\x00{text_a}\x00{text_b}".encode()).hexdigest()
    return "pair-" + digest[:12]


def load_preferences(prefs: PrefsArg, *, format: Format = "auto") -> PreferenceSet:
    """Load and validate pairwise preferences from files (CSV, JSONL, JSON, Parquet) or
    DataFrames.

    Pair ids are content hashes, so the same data gives the same ids (and cached judge
    calls) on every run; a repeated pair (several annotators) gets ``-2``, ``-3`` suffixes.

    Raises:
        InputError: unreadable file, unknown shape, bad label or empty text, with file:line.
        ConfigError: an unknown ``format``.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown preference format {format!r}; use one of {', '.join(FORMATS)}")
    entries = list(prefs) if isinstance(prefs, (list, tuple)) else [prefs]
    if not entries:
        raise InputError("no preference files given")
    pairs: list[Preference] = []
    seen: dict[str, int] = {}
    sources: list[str] = []
    formats: dict[str, str] = {}
    for index, entry in enumerate(entries):
        name = f"<dataframe {index}>" if isinstance(entry, pd.DataFrame) else str(entry)
        fmt = None if format == "auto" else format
        count = 0
        for line, row in _rows(entry, name):
            if fmt is None:
                fmt = detect_format(row, path=name, line=line)
            prompt, text_a, text_b, label = _normalise(row, fmt, path=name, line=line)
            base = pair_id_for(prompt, text_a, text_b)
            seen[base] = seen.get(base, 0) + 1
            pair_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
            pairs.append(Preference(pair_id, prompt, text_a, text_b, label, f"{name}:{line}"))
            count += 1
        if count == 0:
            raise InputError("no preference rows found", path=name)
        sources.append(name)
        formats[name] = fmt or format
    return PreferenceSet(pairs=pairs, sources=sources, formats=formats)


# -- splitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Decided pairs for extraction (``train``) and for the reconstruction report (``test``)."""

    train: list[Preference]
    test: list[Preference]
    unused: list[Preference]

    def split_of(self) -> dict[str, str]:
        out = {p.pair_id: "train" for p in self.train}
        out.update({p.pair_id: "test" for p in self.test})
        out.update({p.pair_id: "unused" for p in self.unused})
        return out


def split_pairs(
    prefs: PreferenceSet,
    *,
    sample: int,
    test_fraction: float,
    test_sample: int | None,
    seed: int,
) -> Split:
    """Shuffle the decided pairs with ``seed``, hold out ``test_fraction`` of them, and keep
    at most ``sample`` training and ``test_sample`` held-out pairs.

    The held-out share is taken before sampling, so a larger ``sample`` never moves a pair
    from the test side to the training side.

    Raises:
        InputError: there are no decided pairs, or too few to hold any out.
    """
    decided = prefs.decided
    where = ", ".join(prefs.sources) or None
    if not decided:
        raise InputError(
            f"no pair with a preference: all {len(prefs.pairs)} rows are ties", path=where
        )
    order = np.random.default_rng(seed).permutation(len(decided))
    shuffled = [decided[i] for i in order]
    n_test = 0
    if test_fraction > 0:
        if len(decided) < 2:
            raise InputError(
                "one decided pair cannot be split into training and held-out pairs; "
                "add pairs or set the test fraction to 0",
                path=where,
            )
        n_test = min(len(decided) - 1, max(1, round(test_fraction * len(decided))))
    test_pool, train_pool = shuffled[:n_test], shuffled[n_test:]
    cap = len(test_pool) if test_sample is None else test_sample
    train, test = train_pool[:sample], test_pool[:cap]
    unused = train_pool[sample:] + test_pool[cap:]
    return Split(train=train, test=test, unused=unused)
