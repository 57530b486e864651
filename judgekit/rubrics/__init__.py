"""Rubrics and checklists as data, and the engines that grade with them.

- :func:`load_rubric` / :func:`list_rubrics`: versioned YAML rubrics from ``rubrics/``.
- :func:`grade`: pointwise (absolute) grading, Prometheus feedback or G-Eval expected scores.
- :func:`checklist`: TICK checklist evaluation; :func:`pass_rate_outcomes` turns its scores
  into pairwise outcomes for Bradley-Terry.
- :func:`select_best` and :func:`refinement_feedback`: STICK Best-of-N and self-refinement.
- :func:`criteria_text`: a rubric's criteria for the pairwise protocol (relative grading).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from judgekit.protocols.pointwise import criteria_text
    from judgekit.rubrics.engine import GradeResult, grade
    from judgekit.rubrics.stick import BestOfN, Refinement, refinement_feedback, select_best
    from judgekit.rubrics.tick import ChecklistResult, checklist, pass_rate_outcomes

# The engines import the protocols, which import this package's models: loading them on
# first use keeps ``import judgekit.rubrics.model`` free of that cycle.
_LAZY = {
    "criteria_text": "judgekit.protocols.pointwise",
    "GradeResult": "judgekit.rubrics.engine",
    "grade": "judgekit.rubrics.engine",
    "BestOfN": "judgekit.rubrics.stick",
    "ChecklistResult": "judgekit.rubrics.tick",
    "Refinement": "judgekit.rubrics.stick",
    "checklist": "judgekit.rubrics.tick",
    "pass_rate_outcomes": "judgekit.rubrics.tick",
    "refinement_feedback": "judgekit.rubrics.stick",
    "select_best": "judgekit.rubrics.stick",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "BestOfN",
    "Checklist",
    "ChecklistOptions",
    "ChecklistQuestion",
    "ChecklistResult",
    "Criterion",
    "GradeOptions",
    "GradeResult",
    "LoadedRubric",
    "Refinement",
    "Rubric",
    "Scale",
    "checklist",
    "criteria_text",
    "dump_checklists",
    "grade",
    "list_rubrics",
    "load_checklists",
    "load_rubric",
    "pass_rate_outcomes",
    "refinement_feedback",
    "rubric_names",
    "select_best",
]
