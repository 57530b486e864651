"""The trust report: how far the judge behind one run can be trusted, from the run's own verdicts.

Every judged result (a pairwise or listwise board, a grade table, an arena, a judge report)
carries a :class:`TrustReport`. Its figures, and the thresholds that raise a warning:

- **Position consistency.** ``flip_rate``: the share of comparisons judged in both orders
  whose winner changes with the order, with a 95 % Wilson interval (Wilson 1927). A flip rate
  of 0.5 or more means the order decides the verdict more often than the answers do.
  ``first_position_rate``: the share of decisive single-order verdicts that picked the answer
  shown first, with a two-sided exact binomial test against the rate of an unbiased judge
  (0.5 for pairs, 1/K for lists of K). It warns when ``p < 0.01`` *and* the rate lies outside
  ``[0.2, 0.8]`` (for lists, the same band scaled to chance: ``[0.4/K, 1.6/K]``), so a large
  run's small, harmless lean does not warn.
- **Separation.** ``p_no_difference``: for ratings fitted to pairwise outcomes, a
  likelihood-ratio test of the fitted Bradley-Terry model against "all models are equal"
  (every win probability 1/2): ``2 (ℓ(θ̂) − ℓ(0))`` against χ² with ``models − components``
  degrees of freedom (``models − 1`` on a connected comparison graph). For pointwise scores,
  a Kruskal-Wallis H test that the models' per-item scores come from one distribution.
  ``p_no_difference ≥ 0.05`` warns that the board cannot tell the models apart.
  ``n_separated_pairs``: the pairs of models whose 95 % CIs do not overlap.
- **Against human labels** (labels ``"a"``, ``"b"``, ``"tie"``): accuracy with a Wilson
  interval; Cohen's κ with a seeded percentile-bootstrap interval; ``p_chance``, a two-sided
  binomial test of the accuracy against 1/2 for binary labels, against the majority class's
  share otherwise; and the accuracy of three trivial rules on the same labels: always the
  longer answer, always the first, always the second. It warns when ``p_chance ≥ 0.05``, when
  the accuracy is no better than chance, or when it does not beat always-longer.

The module is pure: frames and arrays in, a frozen report out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from judgekit.errors import ConfigError, JudgeTrustWarning
from judgekit.quality.trust_stats import (
    Interval,
    Separation,
    binomial_p,
    cohen_kappa,
    kappa_bootstrap_ci,
    kruskal_wallis_test,
    likelihood_ratio_test,
    separated_pairs,
    wilson_ci,
)
from judgekit.rank.data import PairwiseData
from judgekit.rank.outcomes import pairwise_data

FloatArray = NDArray[np.float64]

#: The thresholds of the warnings (see the module docstring).
FLIP_WARN = 0.5
POSITION_P = 0.01
POSITION_BAND = (0.2, 0.8)
SEPARATION_P = 0.05
CHANCE_P = 0.05

#: Keys of :meth:`TrustReport.to_dict` that only exist where human labels do.
LABEL_KEYS = (
    "n_labels",
    "accuracy",
    "accuracy_ci",
    "kappa",
    "kappa_ci",
    "p_chance",
    "chance_rate",
    "always_longer_accuracy",
    "always_first_accuracy",
    "always_second_accuracy",
)


# -- the report ------------------------------------------------------------------------------


def _interval(value: Any) -> Interval | None:
    if value is None:
        return None
    low, high = value
    return (float(low), float(high))


@dataclass(frozen=True)
class TrustReport:
    """How far one run's judge can be trusted; ``None`` marks a figure that does not apply.

    :meth:`to_dict` gives the ``trust`` object of ``--json`` and of the store; the label
    figures appear there only when human labels exist (``n_labels`` is not None).
    """

    kind: str
    """``pairwise``, ``listwise``, ``pointwise`` or ``arena``."""
    flip_rate: float | None = None
    flip_rate_ci: Interval | None = None
    n_both_orders: int = 0
    first_position_rate: float | None = None
    p_first_position: float | None = None
    first_position_expected: float | None = None
    n_single_order: int = 0
    p_no_difference: float | None = None
    separation_test: str | None = None
    separation_statistic: float | None = None
    separation_df: int | None = None
    n_separated_pairs: int | None = None
    n_model_pairs: int = 0
    n_labels: int | None = None
    accuracy: float | None = None
    accuracy_ci: Interval | None = None
    kappa: float | None = None
    kappa_ci: Interval | None = None
    p_chance: float | None = None
    chance_rate: float | None = None
    always_longer_accuracy: float | None = None
    always_first_accuracy: float | None = None
    always_second_accuracy: float | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def has_labels(self) -> bool:
        return self.n_labels is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: floats (NaN as None), lists for intervals and warnings."""

        def clean(value: Any) -> Any:
            if isinstance(value, tuple):
                return [clean(v) for v in value]
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        out = {key: clean(value) for key, value in asdict(self).items()}
        if not self.has_labels:
            for key in LABEL_KEYS:
                out.pop(key)
        return out

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> TrustReport:
        """The report back from :meth:`to_dict`'s output; keys it does not know (written by
        a newer judgekit) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in payload.items() if k in known}
        for key in ("flip_rate_ci", "accuracy_ci", "kappa_ci"):
            if key in values:
                values[key] = _interval(values[key])
        for key in ("warnings", "notes"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


# -- building blocks -------------------------------------------------------------------------


def _decisive_first(p_first: ArrayLike, p_second: ArrayLike, p_tie: ArrayLike) -> FloatArray:
    """Per verdict: 1.0 when it picked the first-shown answer, 0.0 the second, NaN a tie."""
    f, s, t = (np.asarray(x, dtype=float) for x in (p_first, p_second, p_tie))
    out = np.full(f.shape, np.nan)
    out[f > np.maximum(s, t)] = 1.0
    out[s > np.maximum(f, t)] = 0.0
    return out


def _position(hits: ArrayLike, *, expected: float) -> dict[str, Any]:
    picks = np.asarray(hits, dtype=float)
    picks = picks[np.isfinite(picks)]
    n = int(picks.size)
    if n == 0:
        return {}
    k = int(picks.sum())
    return {
        "first_position_rate": k / n,
        "p_first_position": binomial_p(k, n, expected),
        "first_position_expected": expected,
        "n_single_order": n,
    }


def _flips(flipped: ArrayLike) -> dict[str, Any]:
    flags = np.asarray(flipped, dtype=bool)
    n = int(flags.size)
    if n == 0:
        return {}
    k = int(flags.sum())
    return {"flip_rate": k / n, "flip_rate_ci": wilson_ci(k, n), "n_both_orders": n}


def _separation(test: Separation, board: pd.DataFrame | None) -> dict[str, Any]:
    apart, pairs = separated_pairs(board)
    out: dict[str, Any] = {"n_separated_pairs": apart, "n_model_pairs": pairs}
    if test.df > 0 and math.isfinite(test.p_value):
        out.update(
            p_no_difference=test.p_value,
            separation_test=test.test,
            separation_statistic=test.statistic,
            separation_df=test.df,
        )
    return out


def label_figures(
    judge: ArrayLike,
    human: ArrayLike,
    *,
    len_a: ArrayLike | None = None,
    len_b: ArrayLike | None = None,
    seed: int = 0,
    rounds: int = 1000,
) -> dict[str, Any]:
    """The figures against human labels (``"a"``, ``"b"``, ``"tie"``), aligned row by row.

    ``len_a``/``len_b`` are the two answers' lengths, for the always-longer rule (equal
    lengths make it answer ``"tie"``); without them that baseline is None.
    """
    j, h = np.asarray(judge, dtype=str), np.asarray(human, dtype=str)
    if j.shape != h.shape:
        raise ConfigError("judge and human labels must be aligned one to one")
    n = int(h.size)
    if n == 0:
        return {}
    hits = int((j == h).sum())
    classes, counts = np.unique(h, return_counts=True)
    binary = set(classes.tolist()) <= {"a", "b"}
    chance = 0.5 if binary else float(counts.max() / n)
    out: dict[str, Any] = {
        "n_labels": n,
        "accuracy": hits / n,
        "accuracy_ci": wilson_ci(hits, n),
        "kappa": cohen_kappa(j, h),
        "kappa_ci": kappa_bootstrap_ci(j, h, rounds=rounds, seed=seed),
        "p_chance": binomial_p(hits, n, chance),
        "chance_rate": chance,
        "always_first_accuracy": float(np.mean(h == "a")),
        "always_second_accuracy": float(np.mean(h == "b")),
    }
    if len_a is not None and len_b is not None:
        la, lb = np.asarray(len_a, dtype=float), np.asarray(len_b, dtype=float)
        longer = np.where(la > lb, "a", np.where(lb > la, "b", "tie"))
        out["always_longer_accuracy"] = float(np.mean(longer == h))
    return out


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def trust_warnings(report: TrustReport) -> tuple[str, ...]:
    """One plain sentence per threshold crossed: what is wrong and what to do."""
    out: list[str] = []
    if report.flip_rate is not None and report.flip_rate >= FLIP_WARN:
        out.append(
            f"The verdict changed when the answers swapped places in {_pct(report.flip_rate)} "
            f"of comparisons (the threshold is {_pct(FLIP_WARN)}), so the order decides more "
            "often than the answers do; use a stronger judge or a prompt it can follow before "
            "trusting this board."
        )
    rate, p, expected = (
        report.first_position_rate,
        report.p_first_position,
        report.first_position_expected,
    )
    if rate is not None and p is not None and expected is not None:
        low, high = (POSITION_BAND[0] / 0.5 * expected, POSITION_BAND[1] / 0.5 * expected)
        if p < POSITION_P and not low <= rate <= high:
            only = "" if rate > expected else "only "
            out.append(
                f"The judge picked the answer shown first in {only}{_pct(rate)} of its "
                f"verdicts (an unbiased judge: {_pct(expected)}, p = {p:.2g}): a strong "
                "position bias; judge every comparison in several orders and prefer a judge "
                "without it."
            )
    if report.p_no_difference is not None and report.p_no_difference >= SEPARATION_P:
        out.append(
            f"The board cannot tell the models apart: a test of 'all models are equal' gives "
            f"p = {report.p_no_difference:.2g} (the threshold is {SEPARATION_P}), so its order "
            "may be noise; judge more prompts or use a stronger judge before reading the ranks."
        )
    if report.has_labels and report.accuracy is not None:
        chance = report.chance_rate if report.chance_rate is not None else 0.5
        if (report.p_chance is not None and report.p_chance >= CHANCE_P) or (
            report.accuracy <= chance
        ):
            p_text = "nan" if report.p_chance is None else f"{report.p_chance:.2g}"
            out.append(
                f"Agreement with the human labels ({_pct(report.accuracy)}) is not better than "
                f"chance ({_pct(chance)}, p = {p_text}); do not rely on this judge for this "
                "data, or check it on more labels."
            )
        longer = report.always_longer_accuracy
        if longer is not None and report.accuracy <= longer:
            out.append(
                f"The judge's agreement with the human labels ({_pct(report.accuracy)}) does not "
                f"beat always choosing the longer answer ({_pct(longer)}); its verdicts add "
                "nothing over answer length, so use a stronger judge."
            )
    return tuple(out)


def _finish(kind: str, figures: dict[str, Any], notes: Sequence[str]) -> TrustReport:
    draft = TrustReport(kind=kind, notes=tuple(notes), **figures)
    return replace(draft, warnings=trust_warnings(draft))


# -- reports per kind of run -----------------------------------------------------------------


def pairwise_trust(
    outcomes: pd.DataFrame,
    *,
    models: Sequence[str],
    verdicts: pd.DataFrame | None = None,
    board: pd.DataFrame | None = None,
    labels: Mapping[str, Any] | None = None,
    flips: pd.DataFrame | None = None,
) -> TrustReport:
    """The trust report of a pairwise run judged in both orders.

    Args:
        outcomes: prompt_id, model_a, model_b, win_a, win_b, tie, flipped, status.
        models: every model of the run (the rating vector's order).
        verdicts: per-order verdicts (status, p_first, p_second, p_tie) for the
            first-position rate.
        board: the leaderboard, for the CI-separated pairs.
        labels: :func:`label_figures`' output, when the run has human labels.
        flips: the outcomes whose ``flipped`` flags give the flip rate, when they are not
            ``outcomes`` (a panel's per-member outcomes, not the pooled ones).
    """
    source = outcomes if flips is None else flips
    both = source[source["status"].isin(["ok", "dropped"])]
    figures: dict[str, Any] = _flips(both["flipped"].astype(bool))
    if verdicts is not None and not verdicts.empty and "p_first" in verdicts:
        ok = verdicts[verdicts["status"] == "ok"]
        figures |= _position(
            _decisive_first(ok["p_first"], ok["p_second"], ok["p_tie"]), expected=0.5
        )
    figures |= _separation(likelihood_ratio_test(_pairwise(outcomes, models)), board)
    figures |= dict(labels or {})
    return _finish("pairwise", figures, ())


def _pairwise(outcomes: pd.DataFrame, models: Sequence[str]) -> PairwiseData:
    # Comparisons whose outcome carries no weight (a dropped disagreement) add nothing to
    # the likelihood, so they are left out before the fit.
    ok = outcomes[outcomes["status"] == "ok"]
    return pairwise_data(ok[(ok["win_a"] + ok["win_b"] + ok["tie"]) > 0], models=models)


def _first_slot_hits(lists: pd.DataFrame) -> tuple[FloatArray, float]:
    """Per usable list verdict: did the answer shown first come out on top; and 1/K."""
    ok = lists[(lists["status"] == "ok") & lists["ranking"].notna()]
    shown = [list(s) for s in ok["shown"]]
    ranking = [list(r) for r in ok["ranking"]]
    hits = np.array([float(s[0] == r[0]) for s, r in zip(shown, ranking, strict=True)])
    expected = float(np.mean([1.0 / len(s) for s in shown])) if shown else 0.5
    return hits, expected


def listwise_trust(
    outcomes: pd.DataFrame,
    lists: pd.DataFrame,
    *,
    models: Sequence[str],
    board: pd.DataFrame | None = None,
    kind: str = "listwise",
) -> TrustReport:
    """The trust report of a listwise run (or an arena's rounds, ``kind="arena"``).

    ``lists`` has ``shown`` and ``ranking`` (model names, best first) per judge call. A pair
    "flips" when its order differs between the permutations of its list; an arena shows
    each list once, so it has no flip rate. The first-position rate is the share of calls
    that ranked the first-shown answer on top, tested against 1/K.
    """
    figures: dict[str, Any] = {}
    notes: list[str] = []
    if kind == "arena":
        notes.append("Each arena round shows its answers in one order: no flip rate.")
    else:
        figures |= _flips(outcomes.loc[outcomes["status"] == "ok", "flipped"].astype(bool))
    hits, expected = _first_slot_hits(lists)
    figures |= _position(hits, expected=expected)
    figures |= _separation(likelihood_ratio_test(_pairwise(outcomes, models)), board)
    return _finish(kind, figures, notes)


def pointwise_trust(scores: pd.DataFrame, *, board: pd.DataFrame | None = None) -> TrustReport:
    """The trust report of a pointwise run (rubric grades, checklist pass rates).

    Each answer is scored alone, so there is no order to flip and no position to prefer:
    those figures are None. Separation is :func:`kruskal_wallis_test` on the per-item
    scores (``model``, ``score``).
    """
    notes = ("Each answer is scored on its own: position consistency does not apply.",)
    return _finish("pointwise", _separation(kruskal_wallis_test(scores), board), notes)


def joined_label_figures(joined: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """:func:`label_figures` for comparisons joined to human labels.

    ``joined`` has win_a, win_b, tie and human (one row per label, as
    :func:`judgekit.inputs.human.join_labels` returns) and, for the always-longer rule, output_a
    and output_b. The judge's label is the class with a strict majority of its probability,
    else a tie. Empty when no label matched.
    """
    if joined.empty:
        return {}
    j = _decisive_first(joined["win_a"], joined["win_b"], joined["tie"])
    judge = np.where(j == 1.0, "a", np.where(j == 0.0, "b", "tie"))
    texts = "output_a" in joined and "output_b" in joined
    return label_figures(
        judge,
        joined["human"].astype(str).to_numpy(),
        len_a=joined["output_a"].fillna("").astype(str).str.len() if texts else None,
        len_b=joined["output_b"].fillna("").astype(str).str.len() if texts else None,
        seed=seed,
    )


def with_labels(report: TrustReport, labels: Mapping[str, Any]) -> TrustReport:
    """The report with (new) label figures in place of any it had, warnings recomputed."""
    cleared = replace(report, **dict.fromkeys(LABEL_KEYS))
    draft = replace(cleared, **dict(labels))
    return replace(draft, warnings=trust_warnings(draft))


def emit_warnings(report: TrustReport | None, *, stacklevel: int = 3) -> None:
    """``warnings.warn(..., JudgeTrustWarning)`` once per warning of the report."""
    if report is None:
        return
    for message in report.warnings:
        warnings.warn(message, JudgeTrustWarning, stacklevel=stacklevel)


def item_scores(scores: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One overall score per (prompt_id, model): the weighted mean of its usable criteria.

    ``scores`` has prompt_id, model, criterion, score and status (one row per criterion);
    rows that are not ``ok`` or have no score are left out.
    """
    ok = scores[(scores["status"] == "ok")].copy()
    ok["score"] = pd.to_numeric(ok["score"], errors="coerce")
    ok = ok[np.isfinite(ok["score"].to_numpy(dtype=float))]
    if ok.empty:
        return pd.DataFrame(columns=["prompt_id", "model", "score"])
    w = ok["criterion"].map(dict(weights or {})).fillna(1.0) if weights else 1.0
    ok = ok.assign(w=w, ws=ok["score"] * w)
    grouped = ok.groupby(["prompt_id", "model"], as_index=False)[["ws", "w"]].sum()
    return grouped.assign(score=grouped["ws"] / grouped["w"])[["prompt_id", "model", "score"]]
