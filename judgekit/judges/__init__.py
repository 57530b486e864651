"""Judge backends behind one batch-first protocol."""

from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge, known_providers, register_provider

__all__ = ["Judge", "JudgeOptions", "get_judge", "known_providers", "register_provider"]
