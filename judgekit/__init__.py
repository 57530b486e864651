"""judgekit: evaluate LLMs with LLM judges and rank them in arenas.

The public names below are imported on first access (PEP 562), so that ``import judgekit``
(and with it the CLI's start-up) does not pull in pandas, DuckDB and the judging stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    MissingDependencyError,
    StoreError,
)

if TYPE_CHECKING:
    from judgekit.api import CompareResult, compare
    from judgekit.icai import ConstitutionResult, constitution
    from judgekit.panel import compare_panel
    from judgekit.rubrics import checklist, grade, select_best
    from judgekit.types import (
        Candidate,
        Item,
        JudgeRequest,
        JudgeResponse,
        Outcome,
        Ratings,
        Verdict,
    )

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "CompareResult": "judgekit.api",
    "compare": "judgekit.api",
    "ConstitutionResult": "judgekit.icai",
    "constitution": "judgekit.icai",
    "compare_panel": "judgekit.panel",
    "checklist": "judgekit.rubrics",
    "grade": "judgekit.rubrics",
    "select_best": "judgekit.rubrics",
    "Candidate": "judgekit.types",
    "Item": "judgekit.types",
    "JudgeRequest": "judgekit.types",
    "JudgeResponse": "judgekit.types",
    "Outcome": "judgekit.types",
    "Ratings": "judgekit.types",
    "Verdict": "judgekit.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judgekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Candidate",
    "CompareResult",
    "ConstitutionResult",
    "ConfigError",
    "InputError",
    "Item",
    "JudgeError",
    "JudgeRequest",
    "JudgeResponse",
    "JudgekitError",
    "MissingDependencyError",
    "Outcome",
    "Ratings",
    "StoreError",
    "Verdict",
    "__version__",
    "checklist",
    "compare",
    "compare_panel",
    "constitution",
    "grade",
    "select_best",
]
