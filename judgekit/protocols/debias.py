"""Combine the two position orders of a pairwise comparison into one order-free outcome.

The store keeps both per-order verdicts, so a different policy never needs a re-judge.

- Probabilities (both orders non-discrete): ``P(model_a wins) = mean over the two orders``,
  likewise for model_b and tie.
- Discrete verdicts: agreement gives the winner; disagreement gives a tie
  (``disagreement="tie"``) or drops the comparison (``disagreement="drop"``).

A comparison *flips* when the winner (argmax, in model terms) changes with the order.
"""

from __future__ import annotations

from typing import Literal

from judgekit.types import Outcome, Verdict

Disagreement = Literal["tie", "drop"]


def _model_terms(verdict: Verdict, *, a_first: bool) -> tuple[float, float, float]:
    """(win_a, win_b, tie) of one order, mapped from positions to models."""
    if a_first:
        return verdict.p_first, verdict.p_second, verdict.p_tie
    return verdict.p_second, verdict.p_first, verdict.p_tie


def _winner(terms: tuple[float, float, float]) -> str:
    win_a, win_b, tie = terms
    if win_a > max(win_b, tie):
        return "a"
    if win_b > max(win_a, tie):
        return "b"
    return "tie"


def combine_orders(
    ab: Verdict,
    ba: Verdict,
    *,
    prompt_id: str,
    model_a: str,
    model_b: str,
    disagreement: Disagreement = "tie",
) -> Outcome:
    """Combine ``ab`` (model_a shown first) and ``ba`` (model_b shown first)."""
    failed = next((v for v in (ab, ba) if v.status != "ok"), None)
    if failed is not None:
        return Outcome(prompt_id, model_a, model_b, 0.0, 0.0, 0.0, False, status=failed.status)
    first = _model_terms(ab, a_first=True)
    second = _model_terms(ba, a_first=False)
    flipped = _winner(first) != _winner(second)
    if ab.discrete or ba.discrete:
        if not flipped:
            win_a, win_b, tie = first
        elif disagreement == "drop":
            return Outcome(prompt_id, model_a, model_b, 0.0, 0.0, 0.0, True, status="dropped")
        else:
            win_a, win_b, tie = 0.0, 0.0, 1.0
    else:
        win_a = (first[0] + second[0]) / 2
        win_b = (first[1] + second[1]) / 2
        tie = (first[2] + second[2]) / 2
    return Outcome(prompt_id, model_a, model_b, win_a, win_b, tie, flipped)
