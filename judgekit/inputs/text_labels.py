"""Human labels that carry their own texts: a prompt, two answers and which one a person
preferred. ``judgekit meta`` judges the two answers and checks the judge against the label.

Two layouts, told apart by their columns (a JSONL, JSON, CSV or Parquet file):

- ``text_pairs``: ``prompt``, ``text_a``, ``text_b`` and ``preferred`` (``a``, ``b`` or
  ``tie``; any case), with an optional ``prompt_id``;
- ``llmbar``: LLMBar's JSON (Zeng et al., 2024): a list of ``input``, ``output_1``,
  ``output_2`` and ``label`` (1: ``output_1`` is better, 2: ``output_2``).

The two answers of every pair become two pseudo-models named after their columns
(``text_a``/``text_b`` or ``output_1``/``output_2``), so the pairs are judged, stored and
joined to the labels like any other run. Every row is checked before anything is returned,
and every error names the file and line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.outputs import MAX_TEXT_ENV, max_text_chars
from judgekit.inputs.tabular import Row, is_missing


@dataclass(frozen=True)
class TextLayout:
    """A label layout whose rows hold the prompt, both answers and the preference."""

    name: str
    prompt: str
    text_a: str
    text_b: str
    label: str
    labels: dict[str, str]
    """Accepted label spellings (lower case) -> ``model_a``, ``model_b`` or ``tie``."""
    label_help: str

    @property
    def columns(self) -> tuple[str, str, str, str]:
        return (self.prompt, self.text_a, self.text_b, self.label)

    def describe(self) -> str:
        return ", ".join(self.columns)


TEXT_PAIRS = TextLayout(
    name="text_pairs",
    prompt="prompt",
    text_a="text_a",
    text_b="text_b",
    label="preferred",
    labels={"a": "model_a", "b": "model_b", "tie": "tie"},
    label_help="a, b or tie",
)
LLMBAR = TextLayout(
    name="llmbar",
    prompt="input",
    text_a="output_1",
    text_b="output_2",
    label="label",
    labels={"1": "model_a", "2": "model_b"},
    label_help="1 (output_1 is better) or 2 (output_2 is better)",
)
TEXT_LAYOUTS: dict[str, TextLayout] = {TEXT_PAIRS.name: TEXT_PAIRS, LLMBAR.name: LLMBAR}
#: Optional id column of either layout; without it a pair's id is its line number.
ID_COLUMN = "prompt_id"


@dataclass(frozen=True)
class TextLabels:
    """Validated text-pair labels: the pairs as labels and their texts as model outputs."""

    pairs: pd.DataFrame
    """prompt_id, model_a, model_b, winner, annotator, weight (as :mod:`judgekit.inputs.human`)."""
    outputs: pd.DataFrame
    """prompt_id, prompt, model, output: two rows per pair, ready for ``compare``."""
    layout: TextLayout


def detect_text_layout(row: Row) -> TextLayout | None:
    """The text layout whose columns the row has, or None."""
    for layout in TEXT_LAYOUTS.values():
        if set(layout.columns) <= set(row):
            return layout
    return None


def nearly_text_layout(row: Row) -> tuple[TextLayout, list[str]] | None:
    """A text layout the row misses just one column of, and that column, or None.

    A file with ``prompt, text_a, preferred`` is meant as the text-pair layout; saying which
    column is missing helps more than listing every layout.
    """
    for layout in TEXT_LAYOUTS.values():
        missing = [c for c in layout.columns if c not in row]
        if len(missing) == 1:
            return layout, missing
    return None


def text_labels_from_rows(
    rows: Sequence[tuple[int, Row]], *, layout: TextLayout, path: str | Path
) -> TextLabels:
    """Validate every row of a text-pair file (file:line errors) and build the labels.

    Raises:
        InputError: a missing or empty text, a text that is not a string, an unknown label,
            an over-long text or a repeated ``prompt_id``.
    """
    name = str(path)
    limit = max_text_chars()
    pairs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        missing = [c for c in layout.columns if c not in row]
        if missing:
            raise InputError(
                f"missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; the {layout.name} layout "
                f"needs {layout.describe()} (columns found: {', '.join(sorted(row)) or 'none'})",
                path=name,
                line=line,
            )
        texts = {
            column: _text(row, column, path=name, line=line, limit=limit)
            for column in (layout.prompt, layout.text_a, layout.text_b)
        }
        winner = _winner(row.get(layout.label), layout=layout, path=name, line=line)
        prompt_id = _prompt_id(row.get(ID_COLUMN), line=line, path=name)
        if prompt_id in seen:
            raise InputError(
                f"{ID_COLUMN} {prompt_id!r} was already used on line {seen[prompt_id]}; each "
                "pair needs its own id",
                path=name,
                line=line,
            )
        seen[prompt_id] = line
        pairs.append(
            {
                "prompt_id": prompt_id,
                "model_a": layout.text_a,
                "model_b": layout.text_b,
                "winner": winner,
                "annotator": "",
                "weight": 1.0,
            }
        )
        for column in (layout.text_a, layout.text_b):
            outputs.append(
                {
                    "prompt_id": prompt_id,
                    "prompt": texts[layout.prompt],
                    "model": column,
                    "output": texts[column],
                }
            )
    if not pairs:
        raise InputError("no labels in the file", path=name)
    return TextLabels(
        pairs=pd.DataFrame(pairs),
        outputs=pd.DataFrame(outputs, columns=["prompt_id", "prompt", "model", "output"]),
        layout=layout,
    )


def _text(row: Row, column: str, *, path: str, line: int, limit: int | None) -> str:
    value = row.get(column)
    if is_missing(value):
        raise InputError(f"missing or empty {column!r}", path=path, line=line)
    if not isinstance(value, str):
        raise InputError(
            f"{column!r} must be text, got {type(value).__name__}", path=path, line=line
        )
    if limit is not None and len(value) > limit:
        raise InputError(
            f"{column!r} is {len(value):,} characters long, over the limit of {limit:,}; set "
            f"{MAX_TEXT_ENV} to a larger number (0: no limit) if your judge's context holds it",
            path=path,
            line=line,
        )
    return value


def _winner(value: Any, *, layout: TextLayout, path: str, line: int) -> str:
    label = value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        label = int(value)  # CSV readers and JSON writers turn 1 into 1.0
    if isinstance(label, (str, int)) and not isinstance(label, bool):
        key = str(label).strip().lower()
        if key in layout.labels:
            return layout.labels[key]
    shown = "missing" if value is None else repr(value)
    raise InputError(
        f"{layout.label} is {shown}; expected {layout.label_help}", path=path, line=line
    )


def _prompt_id(value: Any, *, line: int, path: str) -> str:
    if is_missing(value):
        return f"pair-{line}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(
            f"{ID_COLUMN} must be text or a whole number, got {type(value).__name__}",
            path=path,
            line=line,
        )
    if isinstance(value, float):
        if not value.is_integer():
            raise InputError(f"{ID_COLUMN} {value!r} is not a whole number", path=path, line=line)
        return str(int(value))
    return str(value).strip()
