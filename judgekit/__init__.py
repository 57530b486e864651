"""judgekit: evaluate LLMs with LLM judges and rank them in arenas."""

from judgekit.api import CompareResult, compare
from judgekit.errors import (
    ConfigError,
    InputError,
    JudgeError,
    JudgekitError,
    MissingDependencyError,
    StoreError,
)
from judgekit.panel import compare_panel
from judgekit.types import Candidate, Item, JudgeRequest, JudgeResponse, Outcome, Ratings, Verdict

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "CompareResult",
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
    "compare",
    "compare_panel",
]
