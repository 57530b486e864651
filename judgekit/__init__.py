"""judgekit: evaluate LLMs with LLM judges and rank them in arenas.

The public names below are imported on first access (PEP 562), so that ``import judgekit``
(and with it the CLI's start-up) does not pull in pandas, DuckDB and the judging stack.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    JudgeTrustWarning,
    MissingDependencyError,
    StoreError,
)

if TYPE_CHECKING:
    from judgekit.runs.checklist import checklist
    from judgekit.runs.compare import compare
    from judgekit.runs.grade import grade
    from judgekit.runs.icai import ConstitutionResult, constitution
    from judgekit.runs.panel import compare_panel
    from judgekit.runs.records import CompareResult
    from judgekit.runs.stick import select_best
    from judgekit.types import (
        Candidate,
        Item,
        JudgeRequest,
        JudgeResponse,
        Outcome,
        Ratings,
        Verdict,
    )


def _version() -> str:
    # From the package metadata, as the store records it, without importing the store.
    try:
        return importlib.metadata.version("judgekit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


__version__ = _version()

# Public name -> the module that defines it.
_LAZY = {
    "CompareResult": "judgekit.runs.records",
    "compare": "judgekit.runs.compare",
    "ConstitutionResult": "judgekit.runs.icai",
    "constitution": "judgekit.runs.icai",
    "compare_panel": "judgekit.runs.panel",
    "checklist": "judgekit.runs.checklist",
    "grade": "judgekit.runs.grade",
    "select_best": "judgekit.runs.stick",
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
    "JudgeTrustWarning",
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
