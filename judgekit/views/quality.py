"""Judge quality: flip rate, ties, parse failures, position and length bias, agreement with
human labels, and latency, tokens and cost per judge."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from judgekit.store import dashboard_queries as dq
from judgekit.store.db import Store
from judgekit.views.boards import format_ci, outcome_winner

# -- judge quality --------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeQuality:
    """Judge-quality figures of one run."""

    metrics: pd.DataFrame
    """One row per figure: metric, value (a rate in [0, 1] or a count), n, detail."""
    usage: pd.DataFrame
    """Per judge: calls, failed, latency, tokens and cost."""
    human: pd.DataFrame | None = None
    """Agreement with human labels (metric, value, n), or None when the store has none."""
    notes: tuple[str, ...] = field(default_factory=tuple)


def length_bias(outcomes: pd.DataFrame) -> dict[str, float]:
    """Share of decisive comparisons won by the longer answer, with a 95 % Wilson interval.

    Comparisons whose answers have the same length, and ties, are left out. 0.5 means no
    length preference; well above it means the judge favours longer answers.
    """
    ok = outcomes[(outcomes["status"] == "ok") & (outcomes["len_a"] != outcomes["len_b"])]
    winner = outcome_winner(ok["win_a"], ok["win_b"], ok["tie"])
    decisive = winner != "tie"
    longer = np.where(ok["len_a"] > ok["len_b"], "a", "b")
    n = int(decisive.sum())
    wins = int((decisive & (winner == longer)).sum())
    share = wins / n if n else float("nan")
    low, high = wilson_interval(wins, n)
    return {"share": share, "n": n, "ci_low": low, "ci_high": high}


def wilson_interval(successes: int, n: int, *, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (NaNs when ``n`` is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def position_preference(verdicts: pd.DataFrame) -> dict[str, float]:
    """Share of decisive per-order verdicts that prefer the answer shown first (0.5 = none)."""
    ok = verdicts[verdicts["status"] == "ok"]
    winner = outcome_winner(ok["p_first"], ok["p_second"], ok["p_tie"])
    decisive = winner != "tie"
    n = int(decisive.sum())
    first = int((winner[decisive] == "a").sum())
    low, high = wilson_interval(first, n)
    return {"share": first / n if n else float("nan"), "n": n, "ci_low": low, "ci_high": high}


def judge_usage(calls: pd.DataFrame) -> pd.DataFrame:
    """Per judge: calls, failed calls, mean and 95th-percentile latency, tokens and cost."""
    columns = [
        "judge",
        "calls",
        "failed",
        "mean_latency_s",
        "p95_latency_s",
        "prompt_tokens",
        "completion_tokens",
        "cost",
    ]
    if calls.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for judge, group in calls.groupby("judge_id", sort=True):
        latency = group["latency_s"].astype(float)
        rows.append(
            {
                "judge": str(judge),
                "calls": len(group),
                "failed": int((group["status"] != "ok").sum()),
                "mean_latency_s": float(latency.mean()),
                "p95_latency_s": float(latency.quantile(0.95)),
                "prompt_tokens": _sum_or_nan(group["prompt_tokens"]),
                "completion_tokens": _sum_or_nan(group["completion_tokens"]),
                "cost": _sum_or_nan(group["cost"]),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _sum_or_nan(series: pd.Series) -> float:
    """The total, or NaN when no call reported the figure (unknown is not zero)."""
    values = pd.to_numeric(series, errors="coerce").astype(float)
    return float(values.sum()) if values.notna().any() else float("nan")


def human_agreement(outcomes: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Agreement of the judge's outcomes with human labels on the same comparisons.

    ``labels`` has prompt_id, model_a, model_b, winner (``model_a``, ``model_b`` or ``tie``)
    and optionally weight; a label given with the models the other way round is turned
    around, and each label counts with its weight (several annotators may label one pair).
    Returns one row per figure (agreement, Cohen's κ, labelled comparisons): metric, value, n.
    """
    ok = outcomes[outcomes["status"] == "ok"].copy()
    ok["judge"] = outcome_winner(ok["win_a"], ok["win_b"], ok["tie"]).to_numpy()
    lab = labels[list(dq.HUMAN_LABEL_COLUMNS)].copy()
    lab["weight"] = labels["weight"].astype(float) if "weight" in labels else 1.0
    lab["human"] = lab["winner"].map({"model_a": "a", "model_b": "b", "tie": "tie"})
    swapped = lab.rename(columns={"model_a": "model_b", "model_b": "model_a"})
    swapped["human"] = swapped["human"].map({"a": "b", "b": "a", "tie": "tie"})
    keys = ["prompt_id", "model_a", "model_b"]
    both = pd.concat([lab, swapped])[[*keys, "human", "weight"]].dropna()
    merged = ok.merge(both, on=keys, how="inner")
    n = int(merged[keys].drop_duplicates().shape[0])
    weight = merged["weight"].to_numpy(dtype=float)
    if n == 0 or weight.sum() <= 0:
        return pd.DataFrame({"metric": ["labelled comparisons"], "value": [0.0], "n": [0]})
    agree = float(np.average(merged["judge"] == merged["human"], weights=weight))
    classes = ["a", "b", "tie"]
    p_judge = np.array([weight[merged["judge"] == c].sum() for c in classes]) / weight.sum()
    p_human = np.array([weight[merged["human"] == c].sum() for c in classes]) / weight.sum()
    expected = float(p_judge @ p_human)
    kappa = (agree - expected) / (1 - expected) if expected < 1 else float("nan")
    return pd.DataFrame(
        {
            "metric": ["agreement with humans", "Cohen's kappa", "labelled comparisons"],
            "value": [agree, kappa, float(n)],
            "n": [n, n, n],
        }
    )


def judge_quality(store: Store, *, run_id: str) -> JudgeQuality:
    """Flip rate, ties, parse failures, position and length bias, human agreement and usage."""
    outcomes = dq.pairwise_outcomes(store, run_id=run_id)
    verdicts = dq.verdict_probabilities(store, run_id=run_id)
    scores = dq.score_rows(store, run_id=run_id)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []

    def add(metric: str, value: float, n: int, detail: str) -> None:
        rows.append({"metric": metric, "value": value, "n": n, "detail": detail})

    ok = outcomes[outcomes["status"] == "ok"]
    if not outcomes.empty:
        add("usable comparisons", len(ok) / len(outcomes), len(outcomes), "both orders parsed")
    if not ok.empty:
        flips = int(ok["flipped"].sum())
        add("position flip rate", flips / len(ok), len(ok), "winner changes with the order")
        winner = outcome_winner(ok["win_a"], ok["win_b"], ok["tie"])
        add("tie rate", float((winner == "tie").mean()), len(ok), "a tie is the likeliest result")
        add("mean tie probability", float(ok["tie"].mean()), len(ok), "tie mass after debiasing")
        bias = length_bias(outcomes)
        add(
            "length bias",
            bias["share"],
            bias["n"],
            "wins by the longer answer; 95 % CI "
            + format_ci(100 * bias["ci_low"], 100 * bias["ci_high"], decimals=0)
            + " %",
        )
    if not verdicts.empty:
        failed = int((verdicts["status"] == "parse_error").sum())
        add("parse-failure rate", failed / len(verdicts), len(verdicts), "per-order verdicts")
        errors = int((~verdicts["status"].isin(["ok", "parse_error"])).sum())
        add("judge-error rate", errors / len(verdicts), len(verdicts), "calls that failed")
        first = position_preference(verdicts)
        add(
            "first-position preference",
            first["share"],
            first["n"],
            "decisive verdicts for the answer shown first",
        )
    if not scores.empty:
        failed = int((scores["status"] == "parse_error").sum())
        add("score parse-failure rate", failed / len(scores), len(scores), "per-response scores")
    if not rows:
        notes.append("This run stored no pairwise verdicts or scores to assess.")
    labels = dq.human_labels(store, run_id=run_id)
    human = None
    if labels is not None and not outcomes.empty:
        human = human_agreement(outcomes, labels)
    usage = judge_usage(dq.run_calls(store, run_id=run_id))
    return JudgeQuality(
        metrics=pd.DataFrame(rows, columns=["metric", "value", "n", "detail"]),
        usage=usage,
        human=human,
        notes=tuple(notes),
    )
