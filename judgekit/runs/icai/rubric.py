"""A constitution as a rubric in the rubric engine's schema (``version: 1``).

Each principle becomes one criterion on a 0-1 scale: its ``question`` is the principle,
level 1 the response it selects and level 0 the one it rejects. Criteria keep the
constitution's order, so :func:`judgekit.protocols.pointwise.criteria_text` lists the principles in
that order in a pairwise prompt's ``$criteria``; that is how the reconstruction report
judges, and how ``judgekit compare --rubric constitution.yaml`` judges.

The schema has no field for vote statistics, so the YAML file carries them as comments
beside each criterion (a YAML loader skips them); the store and the result keep them as data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from judgekit.rubrics.loader import parse_rubric
from judgekit.rubrics.model import Criterion, Rubric, Scale

DEFAULT_NAME = "constitution"
SELECTS = "Selected by this principle."
REJECTS = "Rejected by this principle."


def criterion_id(rank: int) -> str:
    return f"principle_{rank:02d}"


def principle_criterion(principle: str, *, rank: int) -> Criterion:
    return Criterion(
        id=criterion_id(rank),
        title=f"Principle {rank}",
        question=principle,
        levels={0: REJECTS, 1: SELECTS},
    )


def constitution_rubric(
    principles: Sequence[str], *, name: str = DEFAULT_NAME, description: str = ""
) -> Rubric:
    """The rubric of an ordered list of principles (at least one)."""
    return Rubric(
        version=1,
        name=name,
        title=name.replace("_", " ").replace("-", " ").title(),
        description=description,
        scale=Scale(min=0, max=1),
        criteria=[principle_criterion(p, rank=i) for i, p in enumerate(principles, start=1)],
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.3f}"
    return str(value)


def rubric_yaml(
    rubric: Rubric,
    *,
    header: Sequence[str] = (),
    notes: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The rubric as YAML, with ``header`` comment lines on top and, before each criterion,
    a comment with its ``notes`` (vote statistics). It loads back to an equal Rubric."""
    notes = notes or {}
    data = rubric.model_dump(mode="json", exclude_defaults=False)
    criteria = data.pop("criteria")
    for key in ("reference_answer", "template"):
        if data.get(key) is None:
            data.pop(key)
    if not data.get("references"):
        data.pop("references")
    # Level keys are ints in the model; JSON mode made them strings.
    for criterion in criteria:
        criterion["levels"] = {int(k): v for k, v in criterion["levels"].items()}
    lines = [f"# {part}".rstrip() for line in header for part in (line.splitlines() or [""])]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    lines.append(body.rstrip("\n"))
    lines.append("criteria:")
    for criterion in criteria:
        stats = notes.get(criterion["id"])
        if stats:
            lines.append("# " + " · ".join(f"{k} {_fmt(v)}" for k, v in stats.items()))
        dumped = yaml.safe_dump([criterion], sort_keys=False, allow_unicode=True, width=100)
        lines.append(dumped.rstrip("\n"))
    text = "\n".join(lines) + "\n"
    # The file must be exactly the rubric: a round trip through the engine's own parser
    # catches any drift between this writer and the schema before a user sees it.
    if parse_rubric(text, path=Path("<constitution>")) != rubric:
        raise AssertionError("constitution YAML does not round-trip to the same rubric")
    return text
