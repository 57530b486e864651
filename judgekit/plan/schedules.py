"""Comparison schedules: which (prompt, model_a, model_b) comparisons to make.

Schedules are strings so they fit on a command line:

- ``all-pairs``: every pair of models on every prompt (the default);
- ``baseline:MODEL``: every other model against MODEL (AlpacaEval / arena-hard style);
- ``sample:N``: N random pairs per prompt, reproducible from the seed;
- ``adaptive:BUDGET``: BUDGET comparisons chosen in batches by expected information
  (:mod:`judgekit.runs.adaptive`), not planned up front.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from judgekit.errors import ConfigError


@dataclass(frozen=True, order=True)
class Comparison:
    """One comparison to judge; ``model_a`` and ``model_b`` are in canonical order.

    ``turn`` is the conversation turn judged: 1 for a single-turn prompt; turn N of a
    multi-turn prompt is judged with turns 1..N in view.
    """

    prompt_id: str
    model_a: str
    model_b: str
    turn: int = 1


@dataclass(frozen=True)
class Schedule:
    kind: str
    baseline: str | None = None
    n: int | None = None

    def __str__(self) -> str:
        if self.kind == "baseline":
            return f"baseline:{self.baseline}"
        if self.kind == "sample":
            return f"sample:{self.n}"
        if self.kind == "adaptive":
            return f"adaptive:{self.n}"
        return self.kind


def parse_adaptive(text: str) -> int | None:
    """The budget of an ``adaptive:BUDGET`` schedule string, or None for other schedules.

    Raises:
        ConfigError: ``adaptive:`` with a budget that is not a positive integer.
    """
    kind, _, arg = text.partition(":")
    if kind != "adaptive":
        return None
    try:
        budget = int(arg)
    except ValueError:
        budget = 0
    if budget < 1:
        raise ConfigError(f"schedule {text!r}: BUDGET must be a positive number of comparisons")
    return budget


def parse_schedule(text: str) -> Schedule:
    kind, _, arg = text.partition(":")
    if kind == "all-pairs" and not arg:
        return Schedule("all-pairs")
    if kind == "baseline" and arg:
        return Schedule("baseline", baseline=arg)
    if kind == "sample" and arg:
        try:
            n = int(arg)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"schedule {text!r}: N must be a positive integer")
        return Schedule("sample", n=n)
    if kind == "adaptive":
        return Schedule("adaptive", n=parse_adaptive(text))
    raise ConfigError(
        f"unknown schedule {text!r}; use all-pairs, baseline:MODEL, sample:N or adaptive:BUDGET"
    )


def _prompt_rng(seed: int, prompt_id: str) -> random.Random:
    # Seed per prompt so that adding a prompt does not reshuffle the pairs of the others.
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def plan_comparisons(
    models_by_prompt: Mapping[str, Sequence[str]], *, schedule: Schedule, seed: int = 0
) -> list[Comparison]:
    """List the comparisons of a schedule, sorted, for prompts answered by ≥ 2 models.

    Raises:
        ConfigError: the baseline model answered no prompt, or the schedule is adaptive.
    """
    if schedule.kind == "adaptive":
        # Its pairs depend on the verdicts so far, so there is no plan to make up front.
        raise ConfigError(
            f"schedule {schedule}: adaptive schedules choose pairs while judging and "
            "need one judge (judgekit compare with a single --judge)"
        )
    plan: list[Comparison] = []
    if schedule.kind == "baseline":
        baseline = schedule.baseline
        if not any(baseline in models for models in models_by_prompt.values()):
            known = sorted({m for ms in models_by_prompt.values() for m in ms})
            raise ConfigError(
                f"baseline model {baseline!r} is not among the models: {', '.join(known)}"
            )
    for prompt_id, models in sorted(models_by_prompt.items()):
        ordered = sorted(set(models))
        pairs = list(itertools.combinations(ordered, 2))
        if schedule.kind == "baseline":
            pairs = [p for p in pairs if schedule.baseline in p]
        elif schedule.kind == "sample":
            assert schedule.n is not None
            if schedule.n < len(pairs):
                pairs = sorted(_prompt_rng(seed, prompt_id).sample(pairs, schedule.n))
        plan.extend(Comparison(prompt_id, a, b) for a, b in pairs)
    return plan
