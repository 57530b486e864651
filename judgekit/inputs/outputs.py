"""Load model outputs (JSONL, CSV, Parquet, AlpacaEval ``model_outputs.json``) into Items and
Candidates, validating everything before anything is judged or written.

Accepted column names (first match wins):

- prompt id: ``prompt_id``, ``question_id``, ``id`` (absent: derived from the prompt text,
  so AlpacaEval files, which carry no id, still line up across systems);
- prompt: ``prompt``, ``instruction``, ``question``, ``turns`` (first turn);
- model: ``model``, ``generator``, ``model_id`` (absent: the file's stem);
- output: ``output``, ``response``, ``answer``, ``completion``;
- optional ``reference`` and ``category``;
- multi-turn conversations: ``messages`` (OpenAI chat format) or MT-Bench's ``choices``
  with the question's ``turns`` (see :mod:`judgekit.inputs.conversation`).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.conversation import check_same_conversation, read_conversation, split_reference
from judgekit.inputs.tabular import Row, check_no_nul, is_missing, read_rows
from judgekit.types import Candidate, Item

PROMPT_ID_KEYS = ("prompt_id", "question_id", "id")
PROMPT_KEYS = ("prompt", "instruction", "question", "turns")
MODEL_KEYS = ("model", "generator", "model_id")
OUTPUT_KEYS = ("output", "response", "answer", "completion")

#: Longest prompt or output accepted, in characters (about 250k tokens): far beyond what a
#: judge's context holds, so a longer text is a broken export, not an answer to judge.
#: ``JUDGEKIT_MAX_OUTPUT_CHARS`` changes it; 0 turns the check off.
MAX_TEXT_CHARS = 1_000_000
MAX_TEXT_ENV = "JUDGEKIT_MAX_OUTPUT_CHARS"


def max_text_chars() -> int | None:
    """The length limit in force: the environment's, else :data:`MAX_TEXT_CHARS`."""
    raw = os.environ.get(MAX_TEXT_ENV, "").strip()
    if not raw:
        return MAX_TEXT_CHARS
    try:
        limit = int(raw)
    except ValueError:
        raise InputError(f"{MAX_TEXT_ENV}={raw!r} is not a whole number of characters") from None
    if limit < 0:
        raise InputError(f"{MAX_TEXT_ENV}={raw!r} must be 0 (no limit) or more")
    return limit or None


@dataclass(frozen=True)
class Source:
    path: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass
class OutputSet:
    """Validated outputs: one Item per prompt, one Candidate per (prompt, model)."""

    items: dict[str, Item]
    candidates: list[Candidate]
    skipped_prompts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return sorted({c.model for c in self.candidates})

    def by_prompt(self) -> dict[str, dict[str, Candidate]]:
        grouped: dict[str, dict[str, Candidate]] = defaultdict(dict)
        for cand in self.candidates:
            grouped[cand.prompt_id][cand.model] = cand
        return dict(grouped)

    def digest(self) -> str:
        """A content hash of everything that affects judging, for run ids."""
        h = hashlib.sha256()
        for pid in sorted(self.items):
            item = self.items[pid]
            h.update(repr((pid, item.prompt, item.reference)).encode())
            if item.turns:
                # Only multi-turn items add to the hash, so single-turn run ids stay as they were.
                h.update(repr((item.turns, item.reference_turns)).encode())
        for cand in sorted(self.candidates, key=lambda c: (c.prompt_id, c.model)):
            h.update(repr((cand.prompt_id, cand.model, cand.output)).encode())
            if cand.turns:
                h.update(repr(cand.turns).encode())
        return h.hexdigest()

    @property
    def multi_turn(self) -> bool:
        """Whether any prompt is a conversation of more than one turn."""
        return any(item.turns for item in self.items.values())


def _pick(row: Row, keys: Sequence[str]) -> tuple[str | None, Any]:
    for key in keys:
        if key in row:
            return key, row[key]
    return None, None


def _as_text(value: Any, *, column: str, source: Source) -> str:
    if isinstance(value, list) and column == "turns":
        # MT-Bench questions carry a list of turns; the first one is the prompt.
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and column.endswith("id"):
        if float(value).is_integer():
            return str(int(value))
        # 1.5 is no id: it is a shifted column or a spreadsheet that turned ids into numbers.
        raise InputError(
            f"column {column!r} must be a string or a whole number, got {value!r}",
            path=source.path,
            line=source.line,
        )
    raise InputError(
        f"column {column!r} must be a string, got {type(value).__name__}",
        path=source.path,
        line=source.line,
    )


def _visible(char: str) -> bool:
    """Whether ``char`` shows as something: not a space, control or format character."""
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf", "Zs")


def prompt_id_for(prompt: str) -> str:
    return "p-" + hashlib.sha256(prompt.strip().encode("utf-8")).hexdigest()[:12]


def rows_from_frame(frame: pd.DataFrame, name: str) -> Iterable[tuple[Source, Row]]:
    for index, row in enumerate(frame.to_dict(orient="records")):
        check_no_nul(row, path=name, line=index + 1)
        yield Source(name, index + 1), row


def rows_from_file(path: Path) -> Iterable[tuple[Source, Row]]:
    for line, row in read_rows(path):
        yield Source(str(path), line), row


def _check_length(text: str, *, column: str, source: Source, limit: int | None) -> None:
    if limit is not None and len(text) > limit:
        raise InputError(
            f"{column!r} is {len(text):,} characters long, over the limit of {limit:,}; "
            f"set {MAX_TEXT_ENV} to a larger number (0: no limit) if your judge's context "
            "really holds it",
            path=source.path,
            line=source.line,
        )


def normalise_rows(
    rows: Iterable[tuple[Source, Row]], *, default_model: str, origin: str
) -> list[tuple[Source, Item, Candidate]]:
    out: list[tuple[Source, Item, Candidate]] = []
    limit = max_text_chars()
    for source, row in rows:
        conversation = read_conversation(row, path=source.path, line=source.line)
        if conversation is not None:
            # The first turn stands in for prompt and output; later turns ride along below.
            row = {**row, "prompt": conversation.user[0], "output": conversation.assistant[0]}
        prompt_key, prompt = _pick(row, PROMPT_KEYS)
        output_key, output = _pick(row, OUTPUT_KEYS)
        missing = [
            name
            for name, key in (("prompt (or instruction)", prompt_key), ("output", output_key))
            if key is None
        ]
        if missing:
            raise InputError(
                f"missing column(s): {', '.join(missing)}; "
                f"found: {', '.join(sorted(row)) or 'none'}",
                path=source.path,
                line=source.line,
            )
        assert prompt_key is not None and output_key is not None
        prompt_text = _as_text(prompt, column=prompt_key, source=source)
        if is_missing(prompt_text):
            raise InputError(f"{prompt_key!r} is empty", path=source.path, line=source.line)
        _check_length(prompt_text, column=prompt_key, source=source, limit=limit)
        if output is None or (isinstance(output, float) and output != output):
            raise InputError(
                f"{output_key!r} has no value (null or an empty cell)",
                path=source.path,
                line=source.line,
            )
        output_text = _as_text(output, column=output_key, source=source)
        if not output_text.strip():
            # An empty answer is almost always a failed generation or a shifted column;
            # judging it would rank the export bug, not the model.
            raise InputError(
                f"{output_key!r} is empty; if the model really answered nothing, write that "
                'down as text (for example "(no answer)")',
                path=source.path,
                line=source.line,
            )
        _check_length(output_text, column=output_key, source=source, limit=limit)
        id_key, raw_id = _pick(row, PROMPT_ID_KEYS)
        if id_key is None:
            prompt_id = prompt_id_for(prompt_text)
        elif is_missing(raw_id):
            # Deriving an id here would silently pair this row with other files' rows by
            # prompt text while its neighbours pair by id: refuse instead.
            raise InputError(
                f"{id_key!r} is empty (null or blank); give every row an id, or leave the "
                "column out of the whole file to pair rows by prompt text",
                path=source.path,
                line=source.line,
            )
        else:
            prompt_id = _as_text(raw_id, column=id_key, source=source).strip()
            if not prompt_id:
                raise InputError(f"{id_key!r} is empty", path=source.path, line=source.line)
        model_key, model = _pick(row, MODEL_KEYS)
        if model_key is not None and is_missing(model):
            raise InputError(
                f"{model_key!r} is empty; name the model, or leave the column out to use "
                "the file name",
                path=source.path,
                line=source.line,
            )
        model_name = default_model if model_key is None else model
        model_name = _as_text(model_name, column=model_key or "model", source=source).strip()
        if not model_name:
            raise InputError(
                "the model name is empty (the file name gives none); add a 'model' column",
                path=source.path,
                line=source.line,
            )
        if not any(_visible(c) for c in model_name):
            # Zero-width and other format characters look like nothing in every table.
            raise InputError(
                f"the model name {model_name!r} has no visible character",
                path=source.path,
                line=source.line,
            )
        n_turns = conversation.n_turns if conversation is not None else 1
        reference, reference_turns = split_reference(
            row.get("reference"), n_turns=n_turns, path=source.path, line=source.line
        )
        category = row.get("category")
        item = Item(
            prompt_id=prompt_id,
            prompt=prompt_text,
            reference=None if is_missing(reference) else str(reference),
            category=None if is_missing(category) else str(category),
        )
        cand = Candidate(prompt_id=prompt_id, model=model_name, output=output_text)
        if conversation is not None and n_turns > 1:
            for k, text in enumerate(conversation.user + conversation.assistant):
                column = f"turn {k % n_turns + 1} ({'user' if k < n_turns else 'assistant'})"
                _check_length(text, column=column, source=source, limit=limit)
            item = replace(item, turns=conversation.user, reference_turns=reference_turns)
            cand = replace(cand, turns=conversation.assistant)
        out.append((source, item, cand))
    if not out:
        raise InputError("no rows found", path=origin)
    return out


def load_outputs(inputs: Sequence[str | Path | pd.DataFrame], *, min_answers: int = 2) -> OutputSet:
    """Load and validate model outputs from files or DataFrames.

    Args:
        inputs: files or DataFrames, one or more models each.
        min_answers: prompts answered by fewer models are skipped (and listed in
            ``skipped_prompts``). Comparisons need 2; a pointwise score needs 1.

    Raises:
        InputError: a file is unreadable or malformed, a column is missing, or a
            (prompt_id, model) pair appears twice; the message names file and line.
    """
    if not inputs:
        raise InputError("no output files given")
    rows: list[tuple[Source, Item, Candidate]] = []
    names: list[str] = []
    for index, entry in enumerate(inputs):
        if isinstance(entry, pd.DataFrame):
            name = f"<dataframe {index}>"
            rows.extend(
                normalise_rows(rows_from_frame(entry, name), default_model=name, origin=name)
            )
        else:
            path = Path(entry)
            name = str(path)
            rows.extend(normalise_rows(rows_from_file(path), default_model=path.stem, origin=name))
        names.append(name)

    items: dict[str, Item] = {}
    item_source: dict[str, Source] = {}
    seen: dict[tuple[str, str], Source] = {}
    candidates: list[Candidate] = []
    for source, item, cand in rows:
        key = (cand.prompt_id, cand.model)
        if key in seen:
            raise InputError(
                f"duplicate (prompt_id, model) = ({cand.prompt_id!r}, {cand.model!r}); "
                f"first seen at {seen[key]}",
                path=source.path,
                line=source.line,
            )
        seen[key] = source
        known = items.get(item.prompt_id)
        if known is None:
            items[item.prompt_id] = item
            item_source[item.prompt_id] = source
        elif known.prompt.strip() != item.prompt.strip():
            raise InputError(
                f"prompt_id {item.prompt_id!r} has a different prompt text than at "
                f"{item_source[item.prompt_id]}",
                path=source.path,
                line=source.line,
            )
        else:
            check_same_conversation(
                known,
                item,
                model=cand.model,
                first_seen=str(item_source[item.prompt_id]),
                path=source.path,
                line=source.line,
            )
        candidates.append(cand)

    per_prompt: dict[str, int] = defaultdict(int)
    for cand in candidates:
        per_prompt[cand.prompt_id] += 1
    skipped = sorted(pid for pid, n in per_prompt.items() if n < min_answers)
    kept = [c for c in candidates if c.prompt_id not in skipped]
    if not kept:  # only reachable when min_answers > 1: a file with no rows fails earlier
        raise InputError(
            "no prompt was answered by at least two models, so there is nothing to compare "
            f"(inputs: {', '.join(names)})"
        )
    return OutputSet(
        items={pid: it for pid, it in items.items() if pid not in skipped},
        candidates=kept,
        skipped_prompts=skipped,
        sources=names,
    )
