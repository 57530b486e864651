"""Options objects for runs: pydantic at the boundary, ``extra="forbid"`` so typos fail loudly."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from judgekit.plan import parse_schedule


class CompareOptions(BaseModel):
    """How ``judgekit compare`` judges and ranks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["pairwise", "listwise"] = "pairwise"
    """``pairwise``: each pair in both orders; ``listwise``: the judge ranks up to ``k``
    answers per call (:func:`judgekit.runs.listwise.compare_listwise`)."""
    k: int | None = Field(default=None, ge=2, le=20)
    """Answers per listwise call (default 4, or the number of models when fewer); prompts
    with more models are ranked in overlapping blocks. A ``k`` larger than the number of
    models is an error."""
    permutations: int | None = Field(default=None, ge=1)
    """Orders per listwise list (default ``k``: cyclic shifts, every answer in every slot)."""
    schedule: str = "all-pairs"
    """``all-pairs``, ``baseline:MODEL``, ``sample:N`` or ``adaptive:BUDGET`` (pairwise)."""
    seed: int = 0
    """Seed for sampled schedules and bootstrap resampling."""
    verdict: Literal["auto", "logprobs", "generate"] = "auto"
    """``logprobs`` reads A/B/tie probabilities in one forward pass; ``generate`` parses
    ``[[A]]``-style text; ``auto`` picks logprobs when the judge supports them."""
    disagreement: Literal["tie", "drop"] = "tie"
    """What a discrete verdict that flips with the order becomes."""
    criteria: str | None = None
    """Judging criteria placed in the pairwise prompt (default: general helpfulness)."""
    rubric: str | None = None
    """A rubric name or YAML path (also a constitution); its criteria go into the prompt."""
    template: str = "pairwise"
    """Pairwise prompt template name (rubrics/templates/NAME.md) or path."""
    fenced: bool = True
    """Fence prompts and responses with unforgeable markers (off only for bias probes)."""
    bootstrap: int = Field(default=1000, ge=0)
    """Bootstrap rounds for the 95 % CIs (0 = no CIs)."""
    ties: Literal["half", "davidson", "rao-kupper"] = "half"
    """How Bradley-Terry treats ties."""

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value
