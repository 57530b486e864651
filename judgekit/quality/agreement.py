"""Judge meta-evaluation: pure metric functions over plain DataFrames and arrays.

How far can a judge be trusted? The figures here answer that in four groups:

- **agreement with humans**: accuracy with ties (3-way) and without (only pairs where both
  the judge and the human chose a winner, MT-Bench's "w/o tie" setup, Zheng et al. 2023),
  Cohen's κ, and, for scores, Pearson, Spearman and Kendall correlations. JudgeBench (Tan et
  al. 2024) shows that strong judges can sit near chance on hard pairs, so agreement is
  measured, never assumed;
- **consistency**: position flip rate, repeat variance when a judge is sampled more than once,
  transitivity violations (A>B, B>C, C>A triads on one prompt; "Elo Uncovered", Boubdir et al.
  2023, names transitivity an axiom that judged comparisons break), and Krippendorff's α
  across the judges of a panel;
- **biases** ("Benchmarking Cognitive Biases in LLMs as Evaluators", Koo et al. 2023; "Style
  over Substance", Feuer et al. 2024; "Dissecting Human and LLM Preferences", Li et al. 2024):
  P(prefer the longer answer), AlpacaEval's length-controlled win rate (its per-model
  logistic GLM, Dubois et al. 2024), self-preference as the DBG score ("Beyond the Surface",
  Chen et al. 2025), and preference for lists and markdown;
- **operations**: parse failures, latency, tokens and cost.

Labels are the strings ``"a"`` (model_a wins), ``"b"`` and ``"tie"``. An outcome's label is
the class with a strict majority of its probability, else ``"tie"``, as in
:mod:`judgekit.protocols.debias`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from judgekit.errors import ConfigError
from judgekit.inputs.labels import LABELS, outcome_labels
from judgekit.rank.style_features import markdown_style

FloatArray = NDArray[np.float64]
Level = Literal["nominal", "ordinal", "interval", "ratio"]


# -- labels ---------------------------------------------------------------------------------


def order_outcomes(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per-order verdicts in model terms: one row per (comparison, order) that parsed.

    ``verdicts`` has prompt_id, model_a, model_b, position_order (``ab`` shows model_a
    first), status, p_first, p_second and p_tie, as the store keeps them.
    """
    ok = verdicts[verdicts["status"] == "ok"]
    a_first = (ok["position_order"] == "ab").to_numpy()
    return pd.DataFrame(
        {
            "prompt_id": ok["prompt_id"].to_numpy(),
            "model_a": ok["model_a"].to_numpy(),
            "model_b": ok["model_b"].to_numpy(),
            "position_order": ok["position_order"].to_numpy(),
            "win_a": np.where(a_first, ok["p_first"], ok["p_second"]).astype(float),
            "win_b": np.where(a_first, ok["p_second"], ok["p_first"]).astype(float),
            "tie": ok["p_tie"].to_numpy(dtype=float),
        }
    )


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or np.any(w < 0) or np.any(~np.isfinite(w)):
        raise ConfigError("weights must be finite, non-negative and one per row")
    return w


# -- agreement ------------------------------------------------------------------------------


def accuracy(
    judge: Sequence[str] | NDArray[Any],
    human: Sequence[str] | NDArray[Any],
    *,
    ties: bool = True,
    weights: ArrayLike | None = None,
) -> dict[str, float]:
    """Share of comparisons where the judge's label equals the human's.

    Args:
        judge, human: labels ``"a"``, ``"b"`` or ``"tie"``, aligned row by row.
        ties: ``True`` counts every row (3-way agreement, a judge tie against a human win is
            a miss); ``False`` keeps only rows where neither chose a tie.
        weights: optional per-row weights (e.g. an annotator's vote weight).

    Returns:
        ``{"value": share, "n": rows used}``; the value is NaN when no row is left.
    """
    j, h = np.asarray(judge, dtype=str), np.asarray(human, dtype=str)
    w = _weights(weights, len(j))
    keep = np.ones(len(j), dtype=bool) if ties else (j != "tie") & (h != "tie")
    total = float(w[keep].sum())
    value = float(w[keep & (j == h)].sum() / total) if total > 0 else float("nan")
    return {"value": value, "n": int(keep.sum())}


def cohen_kappa(
    rater_1: Sequence[str] | NDArray[Any],
    rater_2: Sequence[str] | NDArray[Any],
    *,
    labels: Sequence[str] = LABELS,
    weights: ArrayLike | None = None,
) -> float:
    """Cohen's κ = (p_o − p_e) / (1 − p_e) for two raters over the same items (Cohen 1960).

    ``p_o`` is the observed agreement and ``p_e = Σ_k p_1(k)·p_2(k)`` the agreement expected
    from each rater's label frequencies. NaN when ``p_e`` is 1 (both raters always gave the
    same single label, so chance explains everything) or there are no rows.
    """
    r1, r2 = np.asarray(rater_1, dtype=str), np.asarray(rater_2, dtype=str)
    w = _weights(weights, len(r1))
    total = float(w.sum())
    if total == 0:
        return float("nan")
    p_o = float(w[r1 == r2].sum()) / total
    p_e = sum((float(w[r1 == k].sum()) / total) * (float(w[r2 == k].sum()) / total) for k in labels)
    if math.isclose(p_e, 1.0):
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)


def krippendorff_alpha(values: ArrayLike, *, level: Level = "nominal") -> float:
    """Krippendorff's α for a units × coders table with missing values (Krippendorff 2011).

    ``α = 1 − D_o / D_e``, computed from the coincidence matrix ``o``: within each unit with
    ``m_u ≥ 2`` values, every ordered pair of values from different coders adds
    ``1 / (m_u − 1)`` to ``o[c, k]``. With ``n_c = Σ_k o[c, k]`` and ``n = Σ_c n_c``::

        α = 1 − (n − 1) · Σ_{c,k} o[c, k] δ²(c, k) / Σ_{c,k} n_c n_k δ²(c, k)

    ``δ²`` is 0/1 for nominal data, ``(c − k)²`` for interval, ``((c − k)/(c + k))²`` for
    ratio, and for ordinal data the squared count of values between the two ranks
    (``Σ_{g=c..k} n_g − (n_c + n_k)/2``). Units with fewer than two values are not pairable
    and are ignored. NaN when the data hold a single value (no disagreement is possible).

    Args:
        values: rows are units (e.g. comparisons), columns are coders (e.g. judges); None
            or NaN marks a missing value. Nominal values may be strings.
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.
    """
    raw = np.asarray(values, dtype=object)
    if raw.ndim != 2:
        raise ConfigError("values must be a 2-D table: units x coders")
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ConfigError(f"unknown level {level!r}; use nominal, ordinal, interval or ratio")
    present = ~pd.isna(raw)
    if not present.any():
        return float("nan")
    given = raw[present]
    keys = np.array([str(v) for v in given]) if level == "nominal" else given.astype(float)
    categories, codes = np.unique(keys, return_inverse=True)
    # counts[u, c]: how many coders gave value c to unit u.
    counts = np.zeros((raw.shape[0], len(categories)))
    np.add.at(counts, (np.nonzero(present)[0], codes), 1.0)
    m = counts.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        return float("nan")
    c_u, w_u = counts[pairable], 1.0 / (m[pairable] - 1.0)
    coincidence = (c_u * w_u[:, None]).T @ c_u - np.diag((c_u * w_u[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    delta = _delta2(level, n_c, None if level == "nominal" else categories.astype(float))
    expected = float((np.outer(n_c, n_c) * delta).sum())
    if expected == 0:
        return float("nan")
    return 1.0 - (n - 1.0) * float((coincidence * delta).sum()) / expected


def _delta2(level: str, n_c: FloatArray, values: FloatArray | None) -> FloatArray:
    """The squared difference function δ²(c, k) of Krippendorff's α for each level."""
    k = len(n_c)
    if level == "nominal" or values is None:
        return 1.0 - np.eye(k)
    c, d = np.meshgrid(values, values, indexing="ij")
    if level == "interval":
        return (c - d) ** 2
    if level == "ratio":
        total = c + d
        return np.divide(c - d, total, out=np.zeros_like(total), where=total != 0) ** 2
    cumulative = np.concatenate([[0.0], np.cumsum(n_c)])
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    low, high = np.minimum(i, j), np.maximum(i, j)
    between = cumulative[high + 1] - cumulative[low]
    out: FloatArray = (between - (n_c[i] + n_c[j]) / 2.0) ** 2
    return out


def score_correlations(judge: ArrayLike, human: ArrayLike) -> dict[str, float]:
    """Pearson, Spearman and Kendall (τ-b) correlations of paired scores, with ``n``.

    NaN where fewer than three pairs are left or either side is constant.
    """
    x, y = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out: dict[str, float] = {"n": int(x.size)}
    usable = x.size >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
    out["pearson"] = float(stats.pearsonr(x, y).statistic) if usable else float("nan")
    out["spearman"] = float(stats.spearmanr(x, y).statistic) if usable else float("nan")
    out["kendall"] = float(stats.kendalltau(x, y).statistic) if usable else float("nan")
    return out


# -- consistency ----------------------------------------------------------------------------


def flip_rate(outcomes: pd.DataFrame) -> dict[str, float]:
    """Share of usable comparisons whose winner changed when the two answers swapped places."""
    ok = outcomes[outcomes["status"] == "ok"]
    n = len(ok)
    return {"value": float(ok["flipped"].astype(bool).mean()) if n else float("nan"), "n": n}


def position_preference(verdicts: pd.DataFrame) -> dict[str, float]:
    """Share of decisive per-order verdicts that chose the answer shown first (0.5 = none)."""
    ok = verdicts[verdicts["status"] == "ok"]
    label = outcome_labels(ok["p_first"], ok["p_second"], ok["p_tie"])
    decisive = label != "tie"
    n = int(decisive.sum())
    value = float((label[decisive] == "a").mean()) if n else float("nan")
    return {"value": value, "n": n}


def repeat_variance(samples: pd.DataFrame) -> dict[str, float]:
    """How much a judge's verdict on the same comparison varies between samples.

    ``samples`` has prompt_id, model_a, model_b, sample, win_a, win_b and tie (usable rows
    only). For each comparison judged at least twice: the variance (ddof=1) of model_a's
    score ``win_a + tie/2`` across samples, and whether every sample gave the same label.

    Returns:
        ``variance`` (mean over comparisons), ``agreement`` (share of comparisons whose
        samples all agree) and ``n`` (comparisons with repeats).
    """
    keys = ["prompt_id", "model_a", "model_b"]
    frame = samples.assign(
        score=samples["win_a"] + 0.5 * samples["tie"],
        label=outcome_labels(samples["win_a"], samples["win_b"], samples["tie"]),
    )
    grouped = frame.groupby(keys, sort=False)
    sizes = grouped.size()
    repeated = sizes[sizes >= 2].index
    if len(repeated) == 0:
        return {"variance": float("nan"), "agreement": float("nan"), "n": 0}
    var = grouped["score"].var(ddof=1).loc[repeated]
    same = grouped["label"].nunique().loc[repeated] == 1
    return {"variance": float(var.mean()), "agreement": float(same.mean()), "n": len(repeated)}


def transitivity_violations(outcomes: pd.DataFrame) -> dict[str, float]:
    """Share of fully decided triads on a prompt that form a cycle (A>B, B>C, C>A).

    Per prompt, ``W[i, j] = 1`` when model i beat model j (ties and failed comparisons give
    no edge). A triad counts when all three of its pairs were decided; it is cyclic when
    its wins go round. Cycles are ``trace(W³)/3`` and decided triads ``trace(D³)/6`` with
    ``D = W + Wᵀ``, so the count costs matrix products, not a loop over triads.

    Returns:
        ``value`` (cyclic / decided triads over all prompts), ``n`` (decided triads),
        ``cycles`` and ``prompts_with_cycles``.
    """
    ok = outcomes[outcomes["status"] == "ok"]
    label = outcome_labels(ok["win_a"], ok["win_b"], ok["tie"])
    decided = ok.assign(label=label)[label != "tie"]
    cycles = triads = prompts_with = 0
    for _, group in decided.groupby("prompt_id", sort=False):
        models = pd.unique(pd.concat([group["model_a"], group["model_b"]]))
        if len(models) < 3:
            continue
        index = {m: k for k, m in enumerate(models)}
        a = group["model_a"].map(index).to_numpy()
        b = group["model_b"].map(index).to_numpy()
        winner = np.where(group["label"] == "a", a, b)
        loser = np.where(group["label"] == "a", b, a)
        w = np.zeros((len(models), len(models)))
        w[winner, loser] = 1.0
        d = np.minimum(w + w.T, 1.0)
        c = int(round(np.trace(w @ w @ w) / 3))
        cycles += c
        prompts_with += c > 0
        triads += int(round(np.trace(d @ d @ d) / 6))
    value = cycles / triads if triads else float("nan")
    return {"value": value, "n": triads, "cycles": cycles, "prompts_with_cycles": prompts_with}


# -- biases ---------------------------------------------------------------------------------


def wilson_interval(successes: float, n: float, *, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (NaNs when ``n`` is 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _prefers_more(
    feature_a: ArrayLike, feature_b: ArrayLike, labels: NDArray[np.str_]
) -> dict[str, float]:
    """Share of decisive comparisons, where the feature differs, won by the larger side."""
    fa, fb = np.asarray(feature_a, dtype=float), np.asarray(feature_b, dtype=float)
    usable = (labels != "tie") & (fa != fb)
    larger = np.where(fa > fb, "a", "b")
    n = int(usable.sum())
    wins = int((usable & (labels == larger)).sum())
    low, high = wilson_interval(wins, n)
    return {"value": wins / n if n else float("nan"), "n": n, "ci_low": low, "ci_high": high}


def length_preference(comparisons: pd.DataFrame) -> dict[str, float]:
    """P(prefer longer): the share of decisive comparisons won by the longer answer.

    ``comparisons`` has win_a, win_b, tie, len_a and len_b (usable rows). Pairs of equal
    length and ties are left out; 0.5 means no length preference. Returns the share, ``n``
    and a 95 % Wilson interval.
    """
    labels = outcome_labels(comparisons["win_a"], comparisons["win_b"], comparisons["tie"])
    return _prefers_more(comparisons["len_a"], comparisons["len_b"], labels)


def style_preference(comparisons: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Preference for lists and for markdown, from the two answers' texts.

    Counts come from :func:`judgekit.rank.style_features.markdown_style` (code blocks removed, as in
    arena-hard-auto). ``lists``: P(the answer with more list items wins); ``markdown``:
    P(the answer with more markdown elements, headers + list items + bold spans, wins);
    each over decisive comparisons where the counts differ, with ``n`` and a Wilson interval.
    """
    labels = outcome_labels(comparisons["win_a"], comparisons["win_b"], comparisons["tie"])
    style_a = [markdown_style(str(t)) for t in comparisons["output_a"]]
    style_b = [markdown_style(str(t)) for t in comparisons["output_b"]]

    def markdown(style: dict[str, int]) -> int:
        return style["header_count"] + style["list_count"] + style["bold_count"]

    return {
        "lists": _prefers_more(
            [s["list_count"] for s in style_a], [s["list_count"] for s in style_b], labels
        ),
        "markdown": _prefers_more(
            [markdown(s) for s in style_a], [markdown(s) for s in style_b], labels
        ),
    }


def self_preference(
    comparisons: pd.DataFrame, *, self_model: str, human: pd.DataFrame | None = None
) -> dict[str, float]:
    """Self-preference of a judge whose own model is among the candidates.

    The judge's self-preference rate is the mean score (a win 1, a tie ½) it gives
    ``self_model`` in comparisons against other models. A high rate alone does not prove
    bias, since the judge's model may simply be better; "Beyond the Surface" (Chen et al.
    2025) therefore subtracts a gold judgment of the same responses::

        DBG = (judge's preference rate for its own model) − (gold preference rate for it)

    Args:
        comparisons: model_a, model_b, win_a, win_b, tie (usable rows), and prompt_id
            when ``human`` is given.
        self_model: the candidate that the judge's own model produced.
        human: gold labels joined to the comparisons (prompt_id, model_a, model_b and
            ``human`` as ``a``/``b``/``tie`` in the comparison's orientation), as
            :func:`judgekit.inputs.human.join_labels` returns; without it only the raw rate exists.

    Returns:
        ``rate`` and ``n`` (all comparisons with the judge's model); with labels also
        ``judge_rate``, ``gold_rate`` and ``dbg`` on the labelled subset and ``n_labelled``.
    """
    involved = comparisons[
        (comparisons["model_a"] == self_model) ^ (comparisons["model_b"] == self_model)
    ]
    score_a = involved["win_a"] + 0.5 * involved["tie"]
    own = np.where(involved["model_a"] == self_model, score_a, 1.0 - score_a)
    out: dict[str, float] = {
        "rate": float(own.mean()) if len(own) else float("nan"),
        "n": len(own),
    }
    if human is None:
        return out
    labelled = human[(human["model_a"] == self_model) ^ (human["model_b"] == self_model)]
    labelled = labelled[labelled["human"].isin(LABELS)]
    is_a = (labelled["model_a"] == self_model).to_numpy()
    gold_a = labelled["human"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy(dtype=float)
    judge_a = (labelled["win_a"] + 0.5 * labelled["tie"]).to_numpy(dtype=float)
    gold = np.where(is_a, gold_a, 1.0 - gold_a)
    judged = np.where(is_a, judge_a, 1.0 - judge_a)
    n = len(gold)
    out["n_labelled"] = n
    out["judge_rate"] = float(judged.mean()) if n else float("nan")
    out["gold_rate"] = float(gold.mean()) if n else float("nan")
    out["dbg"] = out["judge_rate"] - out["gold_rate"] if n else float("nan")
    return out


# -- operations -----------------------------------------------------------------------------


def operations(calls: pd.DataFrame, verdicts: pd.DataFrame) -> dict[str, float]:
    """Parse failures, judge errors, latency, tokens and cost of a run's judge calls.

    ``verdicts`` has a status per parsed verdict (``ok``, ``parse_error``, ``judge_error``);
    ``calls`` has status, latency_s, prompt_tokens, completion_tokens and cost per call.
    Token and cost totals are NaN when no call reported them: unknown is not zero.
    """
    n_verdicts = len(verdicts)
    status = verdicts["status"] if n_verdicts else pd.Series(dtype=str)
    latency = pd.to_numeric(calls["latency_s"], errors="coerce") if len(calls) else pd.Series()

    def total(column: str) -> float:
        if not len(calls):
            return float("nan")
        values = pd.to_numeric(calls[column], errors="coerce")
        return float(values.sum()) if values.notna().any() else float("nan")

    def rate(mask: pd.Series) -> float:
        return float(mask.mean()) if n_verdicts else float("nan")

    return {
        "verdicts": n_verdicts,
        "parse_failure_rate": rate(status == "parse_error"),
        "judge_error_rate": rate(~status.isin(["ok", "parse_error"])),
        "calls": len(calls),
        "mean_latency_s": float(latency.mean()) if latency.notna().any() else float("nan"),
        "p95_latency_s": float(latency.quantile(0.95)) if latency.notna().any() else float("nan"),
        "prompt_tokens": total("prompt_tokens"),
        "completion_tokens": total("completion_tokens"),
        "cost": total("cost"),
    }
