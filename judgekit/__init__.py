"""judgekit: evaluate LLMs with LLM judges and rank them in arenas."""

from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    JudgeTrustWarning,
    MissingDependencyError,
    StoreError,
)
from judgekit.runs.checklist import checklist
from judgekit.runs.compare import compare
from judgekit.runs.grade import grade
from judgekit.runs.icai import ConstitutionResult, constitution
from judgekit.runs.panel import compare_panel
from judgekit.runs.records import CompareResult
from judgekit.runs.stick import select_best
from judgekit.store.db import package_version
from judgekit.types import Candidate, Item, JudgeRequest, JudgeResponse, Outcome, Ratings, Verdict

__version__ = package_version()

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
