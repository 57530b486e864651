"""judgekit: evaluate LLMs with LLM judges and rank them in arenas."""

from judgekit.api import CompareResult, compare
from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    JudgeTrustWarning,
    MissingDependencyError,
    StoreError,
)
from judgekit.icai import ConstitutionResult, constitution
from judgekit.panel import compare_panel
from judgekit.rubrics import checklist, grade, select_best
from judgekit.types import Candidate, Item, JudgeRequest, JudgeResponse, Outcome, Ratings, Verdict

__version__ = "0.1.0"

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
