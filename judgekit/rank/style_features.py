"""Style features of answers: length and markdown counts, contrasted between two answers.

The covariates of style control (:mod:`judgekit.rank.style`). They are computed from the
answers' text, from numeric per-side columns, or from Chatbot Arena's ``conv_metadata``.
Kept apart from the fit so that :class:`judgekit.rank.data.PairwiseData` can attach them
while reading a table without importing the fit, which itself needs ``PairwiseData``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from judgekit.errors import InputError

FloatArray = NDArray[np.float64]

#: The style features, in arena-hard-auto's order.
STYLE_FEATURES: tuple[str, ...] = ("length", "header_count", "list_count", "bold_count")

_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def markdown_style(text: str) -> dict[str, int]:
    """Style counts of one answer, as arena-hard-auto counts them.

    Code blocks are removed first (a ``#`` comment is not a header). ``length`` counts words
    and punctuation marks, a tokenizer-free stand-in for arena-hard-auto's tiktoken count (the
    features use ratios, so the unit cancels).
    """
    prose = _CODE_BLOCK.sub("", text)
    return {
        "length": len(_TOKEN.findall(text)),
        "header_count": len(_HEADER.findall(prose)),
        "list_count": len(_ORDERED.findall(prose)) + len(_UNORDERED.findall(prose)),
        "bold_count": len(_BOLD.findall(prose)),
    }


def style_contrast(values_a: FloatArray, values_b: FloatArray) -> FloatArray:
    """``(a - b) / (a + b)`` per feature, 0 where both are 0."""
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


def _metadata_counts(meta: Any, side: str) -> dict[str, float]:
    """Style counts from a Chatbot Arena ``conv_metadata`` entry for side ``a`` or ``b``."""
    if not isinstance(meta, Mapping):
        raise TypeError("conv_metadata entry is not a mapping")

    def total(key: str) -> float:
        value = meta[f"{key}_{side}"]
        return float(sum(value.values())) if isinstance(value, Mapping) else float(value)

    return {
        "length": total("sum_assistant_tokens")
        if f"sum_assistant_tokens_{side}" in meta
        else float(meta[f"sum_assistant_{side}_tokens"]),
        "header_count": total("header_count"),
        "list_count": total("list_count"),
        "bold_count": total("bold_count"),
    }


def style_features_from_frame(
    frame: pd.DataFrame, *, path: str | None = None
) -> tuple[FloatArray, tuple[str, ...]]:
    """Style contrasts of each battle, from whichever source the table has.

    Sources, in order: ``response_a``/``response_b`` text; numeric ``length_a``,
    ``length_b``, ``header_count_a``, ... columns; or Chatbot Arena's ``conv_metadata``.

    Raises:
        InputError: none of the sources is present or a value is not usable.
    """
    cols = set(frame.columns)
    if {"response_a", "response_b"} <= cols:
        side_a = [markdown_style(str(t)) for t in frame["response_a"].fillna("")]
        side_b = [markdown_style(str(t)) for t in frame["response_b"].fillna("")]
        va = np.array([[s[f] for f in STYLE_FEATURES] for s in side_a], dtype=np.float64)
        vb = np.array([[s[f] for f in STYLE_FEATURES] for s in side_b], dtype=np.float64)
    elif all(f"{f}_{s}" in cols for f in STYLE_FEATURES for s in "ab"):
        va = frame[[f"{f}_a" for f in STYLE_FEATURES]].apply(pd.to_numeric, errors="coerce")
        vb = frame[[f"{f}_b" for f in STYLE_FEATURES]].apply(pd.to_numeric, errors="coerce")
        va, vb = va.to_numpy(dtype=np.float64), vb.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(va).any(axis=1) | np.isnan(vb).any(axis=1))
        if bad.size:
            raise InputError(f"row {bad[0]}: style feature columns must be numbers", path=path)
    elif "conv_metadata" in cols:
        va_rows, vb_rows = [], []
        for row, meta in enumerate(frame["conv_metadata"]):
            try:
                ca, cb = _metadata_counts(meta, "a"), _metadata_counts(meta, "b")
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"row {row}: unusable conv_metadata ({exc})", path=path) from None
            va_rows.append([ca[f] for f in STYLE_FEATURES])
            vb_rows.append([cb[f] for f in STYLE_FEATURES])
        va, vb = np.array(va_rows), np.array(vb_rows)
    else:
        raise InputError(
            "style control needs response_a/response_b text, numeric "
            "length_a/length_b/header_count_a/... columns, or Chatbot Arena conv_metadata",
            path=path,
        )
    return style_contrast(va, vb), STYLE_FEATURES
