"""Rubrics and checklists as data: models, loaders and verdict parsers.

The engines that grade with them live in :mod:`judgekit.runs.grade`,
:mod:`judgekit.runs.checklist` and :mod:`judgekit.runs.stick`.


- :func:`load_rubric` / :func:`list_rubrics`: versioned YAML rubrics from ``rubrics/``;
- :func:`load_checklists` / :func:`dump_checklists`: user-written checklists (JSONL).
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

from judgekit.rubrics.loader import (
    LoadedRubric,
    dump_checklists,
    list_rubrics,
    load_checklists,
    load_rubric,
    rubric_names,
)
from judgekit.rubrics.model import (
    Checklist,
    ChecklistOptions,
    ChecklistQuestion,
    Criterion,
    GradeOptions,
    Rubric,
    Scale,
)

# Deprecated aliases, kept for one release: the engines moved to judgekit.runs (grade,
# checklist, stick) and criteria_text to judgekit.protocols.pointwise. They load on first use
# and warn, so that this package stays a data layer that imports nothing above it.
_MOVED = {
    "criteria_text": "judgekit.protocols.pointwise",
    "GradeResult": "judgekit.runs.grade",
    "grade": "judgekit.runs.grade",
    "BestOfN": "judgekit.runs.stick",
    "ChecklistResult": "judgekit.runs.checklist",
    "Refinement": "judgekit.runs.stick",
    "checklist": "judgekit.runs.checklist",
    "pass_rate_outcomes": "judgekit.runs.checklist",
    "refinement_feedback": "judgekit.runs.stick",
    "select_best": "judgekit.runs.stick",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"judgekit.rubrics.{name} moved to {module}.{name}; the old name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(import_module(module), name)


__all__ = [
    "Checklist",
    "ChecklistOptions",
    "ChecklistQuestion",
    "Criterion",
    "GradeOptions",
    "LoadedRubric",
    "Rubric",
    "Scale",
    "dump_checklists",
    "list_rubrics",
    "load_checklists",
    "load_rubric",
    "rubric_names",
]
