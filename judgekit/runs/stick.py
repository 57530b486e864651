"""STICK (self-TICK): checklist scores used to improve generation.

- :func:`select_best`: Best-of-N, the candidate with the highest checklist pass rate.
- :func:`refinement_feedback`: the checklist items a draft fails, as feedback for the next.

Both write the instruction's checklist with the judge (or take one), answer it for every
response through the runner, and score with :mod:`judgekit.runs.checklist`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError, ParseError
from judgekit.inputs.outputs import prompt_id_for
from judgekit.judges.base import Judge
from judgekit.rubrics.model import Checklist, ChecklistOptions
from judgekit.runs.checklist import (
    answer_checklists,
    answer_mode,
    generate_checklists,
    response_scores,
)
from judgekit.runs.grade import resolve_judge
from judgekit.store.db import MEMORY, open_store
from judgekit.types import Candidate, Item


@dataclass
class CandidateScores:
    """Checklist scores of several responses to one instruction."""

    checklist: Checklist
    scores: pd.DataFrame
    answers: pd.DataFrame


def score_responses(
    instruction: str,
    responses: Sequence[str],
    judge: str | Judge,
    *,
    checklist: Checklist | Sequence[str] | None = None,
    options: ChecklistOptions | None = None,
    db: str | Path = MEMORY,
) -> CandidateScores:
    """Score responses to one instruction with its checklist (written by ``judge`` if absent).

    Calls go through the runner, so a file ``db`` caches them across calls.

    Raises:
        ParseError: the judge's checklist had no question in it.
    """
    opts = options or ChecklistOptions()
    judge_obj = resolve_judge(judge, None)
    item = Item(prompt_id=prompt_id_for(instruction), prompt=instruction)
    candidates = [
        Candidate(item.prompt_id, f"candidate-{i}", text) for i, text in enumerate(responses)
    ]
    with open_store(db) as store:
        if checklist is None:
            found, failed, _ = generate_checklists(
                [item], judge=judge_obj, store=store, options=opts
            )
            if item.prompt_id in failed:
                failure = failed[item.prompt_id]
                raise ParseError(
                    f"the judge wrote no usable checklist ({failure.error}): {failure.raw!r}"
                )
            chosen = found[item.prompt_id]
        elif isinstance(checklist, Checklist):
            chosen = checklist.model_copy(update={"prompt_id": item.prompt_id})
        else:
            chosen = Checklist.of(item.prompt_id, list(checklist))
        answers, _ = answer_checklists(
            candidates,
            items={item.prompt_id: item},
            checklists={item.prompt_id: chosen},
            judge=judge_obj,
            store=store,
            mode=answer_mode(judge_obj, opts),
        )
    scores = response_scores(answers, candidates)
    return CandidateScores(checklist=chosen, scores=scores, answers=answers)


@dataclass(frozen=True)
class BestOfN:
    """The result of :func:`select_best`."""

    index: int
    """Position of the chosen candidate in the input."""
    response: str
    """The chosen candidate."""
    scores: tuple[float, ...]
    """Weighted pass rate of every candidate (NaN when none of its answers parsed)."""
    checklist: Checklist


def select_best(
    instruction: str,
    candidates: Sequence[str],
    judge: str | Judge,
    *,
    checklist: Checklist | Sequence[str] | None = None,
    options: ChecklistOptions | None = None,
    db: str | Path = MEMORY,
) -> BestOfN:
    """STICK Best-of-N: pick the candidate with the highest checklist pass rate.

    The checklist is written once by ``judge`` (or given), every candidate is checked
    against it, and the highest weighted pass rate wins; a tie goes to the earliest
    candidate, so the choice is deterministic.

    Raises:
        ConfigError: no candidates were given.
    """
    if not candidates:
        raise ConfigError("select_best needs at least one candidate")
    result = score_responses(
        instruction, candidates, judge, checklist=checklist, options=options, db=db
    )
    rates = result.scores["weighted_pass_rate"].to_numpy(dtype=float)
    ranked = np.where(np.isnan(rates), -np.inf, rates)
    best = int(np.argmax(ranked))  # argmax returns the first maximum: earliest wins ties
    return BestOfN(
        index=best,
        response=candidates[best],
        scores=tuple(float(r) for r in rates),
        checklist=result.checklist,
    )


@dataclass(frozen=True)
class Refinement:
    """Checklist feedback on one draft, for a next draft (STICK self-refinement)."""

    passed: bool
    """Every question was answered YES."""
    failed: tuple[str, ...]
    """The questions answered NO (or unanswerable), in checklist order."""
    pass_rate: float
    feedback: str
    """A message for the next draft; empty when every question passed."""
    checklist: Checklist


def refinement_feedback(
    instruction: str,
    response: str,
    judge: str | Judge,
    *,
    checklist: Checklist | Sequence[str] | None = None,
    options: ChecklistOptions | None = None,
    db: str | Path = MEMORY,
) -> Refinement:
    """Check a draft against the instruction's checklist and list what it fails.

    A question fails when P(YES) < 0.5 or its answer could not be parsed (a requirement not
    confirmed is treated as unmet). Feed ``feedback`` back to the generator with the draft.
    """
    result = score_responses(
        instruction, [response], judge, checklist=checklist, options=options, db=db
    )
    answers = result.answers.sort_values("question_index")
    unmet = answers[(answers["status"] != "ok") | (answers["p_yes"] < 0.5)]
    failed = tuple(unmet["question"])
    feedback = ""
    if failed:
        listed = "\n".join(f"- {q}" for q in failed)
        feedback = (
            "Your previous response does not yet meet these requirements of the instruction:\n"
            f"{listed}\nRevise the response so that the answer to each question becomes YES, "
            "and keep what already works."
        )
    rate = result.scores["pass_rate"].iloc[0]
    return Refinement(
        passed=not failed,
        failed=failed,
        pass_rate=float(rate),
        feedback=feedback,
        checklist=result.checklist,
    )
