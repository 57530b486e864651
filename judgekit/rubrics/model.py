"""Rubric and checklist models: pydantic at the boundary (YAML, JSONL), ``extra="forbid"``.

A rubric file (schema ``version: 1``) looks like::

    version: 1
    name: helpfulness
    title: Helpfulness
    description: How well the response serves the user's request.
    scale: {min: 1, max: 5}
    criteria:
      - id: helpfulness
        question: Does the response address the user's needs?
        weight: 1.0
        levels:
          1: The response ignores the request or is useless.
          5: The response fully answers the request.
    reference_answer: null        # global reference, shown with every item
    references: {}                # per-item references, keyed by prompt_id
    template: null                # template name or file (default: prompt.md beside it)

Levels describe score values; the lowest and highest score must be described, intermediate
ones may be left out (the judge is told the whole range), which keeps 0-10 scales readable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Verdict = Literal["auto", "logprobs", "generate"]

#: Criterion ids become column names and parse keys, so they are plain identifiers.
_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class LocatedValueError(ValueError):
    """A validation error that knows where in the document it belongs (for file:line)."""

    def __init__(self, message: str, *, loc: tuple[int | str, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class Scale(BaseModel):
    """An integer score range, inclusive at both ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = 1
    """Lowest score."""
    max: int = 5
    """Highest score."""

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 100:
            raise ValueError("a scale may have at most 101 levels")
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        """The score values as the strings a judge writes, lowest first."""
        return tuple(str(s) for s in range(self.min, self.max + 1))

    @property
    def single_token_labels(self) -> bool:
        """Whether every score is one character, so that a judge's next-token distribution
        tells the scores apart (``"1"`` is not a prefix of ``"10"``); true for 0-9 ranges."""
        return all(len(label) == 1 for label in self.labels)


class Criterion(BaseModel):
    """One thing a rubric scores, with a description per score level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN)
    """Identifier: lower case, digits and underscores (``factual_correctness``)."""
    title: str | None = None
    """Display name; defaults to the id in title case."""
    question: str = Field(min_length=1)
    """What the judge asks itself, Prometheus style ("Is the response factually correct?")."""
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """Weight of this criterion in the overall score."""
    levels: dict[int, str]
    """Description of score levels; the scale's min and max must be described."""

    @property
    def name(self) -> str:
        return self.title or self.id.replace("_", " ").title()

    @field_validator("levels")
    @classmethod
    def _non_empty(cls, levels: dict[int, str]) -> dict[int, str]:
        empty = [k for k, v in levels.items() if not v.strip()]
        if empty:
            raise ValueError(f"level {empty[0]} has an empty description")
        return dict(sorted(levels.items()))


class Rubric(BaseModel):
    """A scoring rubric: criteria on one score scale, an optional reference, a template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    """Schema version; this judgekit reads version 1."""
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    """Rubric id; matches its folder name for shipped rubrics."""
    title: str | None = None
    """Display name."""
    description: str = ""
    """What the rubric measures, shown by ``judgekit rubrics list``."""
    scale: Scale = Field(default_factory=Scale)
    """Score range shared by all criteria."""
    criteria: list[Criterion] = Field(min_length=1)
    """The criteria; several are judged in one call when the judge generates text."""
    reference_answer: str | None = None
    """A reference answer shown with every item (global reference)."""
    references: dict[str, str] = Field(default_factory=dict)
    """Per-item reference answers keyed by prompt_id; they override the outputs' own."""
    template: str | None = None
    """Prompt template: a name in ``rubrics/templates/`` or a file relative to the rubric.
    Default: ``prompt.md`` beside the rubric when present, else ``pointwise``."""

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        ids = [c.id for c in self.criteria]
        for index, cid in enumerate(ids):
            if cid in ids[:index]:
                raise LocatedValueError(
                    f"duplicate criterion id {cid!r}", loc=("criteria", index, "id")
                )
            if cid == "overall":
                raise LocatedValueError(
                    "'overall' is reserved for the weighted mean of the criteria",
                    loc=("criteria", index, "id"),
                )
        low, high = self.scale.min, self.scale.max
        for index, c in enumerate(self.criteria):
            outside = [k for k in c.levels if not low <= k <= high]
            if outside:
                raise LocatedValueError(
                    f"criterion {c.id!r}: level {outside[0]} is outside the scale {low}-{high}",
                    loc=("criteria", index, "levels", outside[0]),
                )
            for end in (low, high):
                if end not in c.levels:
                    raise LocatedValueError(
                        f"criterion {c.id!r}: score {end} (scale end) needs a level",
                        loc=("criteria", index, "levels"),
                    )
        return self

    @property
    def display_name(self) -> str:
        return self.title or self.name.replace("_", " ").replace("-", " ").title()

    def reference_for(self, prompt_id: str, item_reference: str | None) -> str | None:
        """The reference answer for one item: per-item rubric entry, then the item's own,
        then the rubric's global one."""
        return self.references.get(prompt_id) or item_reference or self.reference_answer

    def content_hash(self) -> str:
        """A hash of everything that changes judging, for run ids."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ChecklistQuestion(BaseModel):
    """One YES/NO question of a checklist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    """Asks whether a response meets one requirement of the instruction."""
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """Weight in the weighted pass rate."""


class Checklist(BaseModel):
    """The checklist of one instruction (TICK): YES/NO questions with weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_id: str
    """The item the checklist belongs to."""
    questions: tuple[ChecklistQuestion, ...] = Field(min_length=1)
    """The questions, in order; their index is stable and stored."""
    source: Literal["generated", "user"] = "user"
    """Who wrote it: the judge (``generated``) or a person (``user``)."""
    generator: str | None = None
    """Judge id for generated checklists, the file for user checklists."""
    request_hash: str | None = None
    """Hash of the generation call, for generated checklists."""

    @classmethod
    def of(cls, prompt_id: str, questions: Sequence[str], **kwargs: object) -> Checklist:
        """A checklist of equally weighted questions."""
        return cls(
            prompt_id=prompt_id,
            questions=tuple(ChecklistQuestion(question=q) for q in questions),
            **kwargs,  # type: ignore[arg-type]
        )

    def texts(self) -> list[str]:
        return [q.question for q in self.questions]


class GradeOptions(BaseModel):
    """How ``judgekit grade`` scores outputs with a rubric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict = "auto"
    """``logprobs``: one forward pass per criterion, expected score over the score tokens
    (G-Eval); ``generate``: Prometheus feedback then ``[RESULT]`` scores, all criteria in one
    call; ``auto``: logprobs when the judge supports them and the scale allows it."""
    feedback: bool = False
    """With logprobs, first generate Prometheus feedback, then read the score distribution
    right after it. Slower (one generation per response), but explains each score."""
    feedback_tokens: int = Field(default=256, ge=16)
    """Token budget for generated feedback."""
    bootstrap: int = Field(default=1000, ge=0)
    """Bootstrap rounds (over prompts) for the 95 % CIs of mean scores; 0 for none."""
    seed: int = 0
    """Seed of the bootstrap."""


class ChecklistOptions(BaseModel):
    """How ``judgekit checklist`` writes and answers checklists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict = "auto"
    """``logprobs``: P(YES) from one forward pass per (response, question); ``generate``:
    parse a YES/NO reply; ``auto``: logprobs when the judge supports them."""
    max_questions: int = Field(default=8, ge=1, le=50)
    """At most this many questions are kept from a generated checklist."""
    generate_tokens: int = Field(default=200, ge=32)
    """Token budget for writing one checklist."""
    tie_margin: float = Field(default=0.0, ge=0.0, le=1.0)
    """Pass rates closer than this make a pairwise tie (exact equality ties always)."""
    bootstrap: int = Field(default=1000, ge=0)
    """Bootstrap rounds for the 95 % CIs of the pass rates and of Bradley-Terry."""
    seed: int = 0
    """Seed of the bootstraps."""
