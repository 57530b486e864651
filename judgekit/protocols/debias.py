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

import pandas as pd

from judgekit.inputs.formats import OUTCOME_COLUMNS
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


def _peer_verdict(winner: str, *, a_first: bool, raw: str) -> Verdict:
    """A discrete position-level verdict from a winner in model terms."""
    if winner == "error" or winner not in ("model_a", "model_b", "tie"):
        return Verdict(status="parse_error", raw=raw, error=f"peer verdict {winner!r}")
    first = {"model_a": a_first, "model_b": not a_first, "tie": False}[winner]
    second = {"model_a": not a_first, "model_b": a_first, "tie": False}[winner]
    return Verdict(
        status="ok",
        p_first=float(first),
        p_second=float(second),
        p_tie=float(winner == "tie"),
        discrete=True,
        raw=raw,
    )


def verdicts_to_outcomes(
    verdicts: pd.DataFrame, *, disagreement: Disagreement = "tie"
) -> pd.DataFrame:
    """Combine the two orders of every comparison with :func:`combine_orders`.

    A comparison judged in one order only keeps that verdict and cannot flip. Extra columns
    shared by both orders (``judge``, ``turn``, ``weight``) are carried over; ``weight``
    defaults to 1.
    """
    keys = ["prompt_id", "model_a", "model_b"]
    rows = []
    for key, group in verdicts.groupby(keys, sort=True):
        by_order = {
            order: _peer_verdict(
                str(r["winner"]), a_first=order == "ab", raw=str(r.get("raw") or "")
            )
            for order, r in zip(group["position_order"], group.to_dict("records"), strict=True)
        }
        ab = by_order.get("ab") or by_order["ba"]
        ba = by_order.get("ba") or by_order["ab"]
        outcome = combine_orders(
            ab, ba, prompt_id=key[0], model_a=key[1], model_b=key[2], disagreement=disagreement
        )
        extra = {
            column: group[column].iloc[0]
            for column in ("judge", "turn", "weight")
            if column in group and group[column].nunique(dropna=False) == 1
        }
        rows.append(
            {
                "prompt_id": outcome.prompt_id,
                "model_a": outcome.model_a,
                "model_b": outcome.model_b,
                "win_a": outcome.win_a,
                "win_b": outcome.win_b,
                "tie": outcome.tie,
                "flipped": outcome.flipped,
                "status": outcome.status,
                "weight": 1.0,
                **extra,
            }
        )
    columns = OUTCOME_COLUMNS + [c for c in ("judge", "turn") if c in verdicts]
    return pd.DataFrame(rows, columns=columns)
