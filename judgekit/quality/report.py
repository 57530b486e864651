"""The judge-quality report of a run: assembled from the store, kept in it, compared across
judges.

:func:`report_from_frames` is pure (DataFrames in, a :class:`MetaReport` out);
:func:`judge_report` reads a run from the store, joins human labels (given or stored),
computes the report and stores it in ``meta_reports``; :func:`comparison_table` lines up
several judges' reports. The metric functions and their formulas live in
:mod:`judgekit.quality.agreement`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from judgekit.errors import StoreError
from judgekit.inputs.human import HumanLabels, join_labels, join_scores
from judgekit.quality import agreement as meta
from judgekit.quality.trust import TrustReport, joined_label_figures, pairwise_trust, with_labels
from judgekit.rank.length_control import length_controlled_win_rates
from judgekit.store import meta_queries as mq
from judgekit.store import queries
from judgekit.store import trust_queries as tq
from judgekit.store.db import Store

#: Report rows shown in the judge comparison table, in order.
COMPARISON_METRICS = (
    "accuracy (with ties)",
    "accuracy (without ties)",
    "Cohen's kappa",
    "position flip rate",
    "transitivity violations",
    "P(prefer longer)",
    "LC win-rate shift",
    "self-preference DBG",
    "parse-failure rate",
    "mean latency (s)",
    "cost",
)


@dataclass
class MetaReport:
    """A judge-quality report: one row per figure, plus per-model length control."""

    run_id: str
    metrics: pd.DataFrame
    """section, metric, value, n, detail (a dict)."""
    length_control: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per model: n, win_rate, lc_win_rate."""
    notes: list[str] = field(default_factory=list)
    trust: TrustReport | None = None
    """The run's trust report, with the label figures where human labels exist."""

    def value(self, metric: str) -> float:
        """One figure's value (NaN when the report does not have it)."""
        row = self.metrics[self.metrics["metric"] == metric]
        return float(row["value"].iloc[0]) if len(row) else float("nan")

    def to_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        out = {
            "run_id": self.run_id,
            "metrics": clean(self.metrics.to_dict("records")),
            "length_control": clean(self.length_control.to_dict("records")),
            "notes": list(self.notes),
        }
        if self.trust is not None:
            out["trust"] = self.trust.to_dict()
        return out


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, section: str, metric: str, value: float, n: float, **detail: Any) -> None:
        self.rows.append(
            {
                "section": section,
                "metric": metric,
                "value": float(value),
                "n": int(n),
                "detail": detail,
            }
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=mq.REPORT_COLUMNS)


def _lengths(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        len_a=frame["output_a"].fillna("").astype(str).str.len(),
        len_b=frame["output_b"].fillna("").astype(str).str.len(),
    )


def report_from_frames(
    comparisons: pd.DataFrame,
    *,
    run_id: str = "",
    verdicts: pd.DataFrame | None = None,
    calls: pd.DataFrame | None = None,
    human: HumanLabels | None = None,
    judge_scores: pd.DataFrame | None = None,
    members: pd.DataFrame | None = None,
    self_model: str | None = None,
) -> MetaReport:
    """Compute a judge-quality report from plain frames.

    Args:
        comparisons: outcomes (prompt_id, model_a, model_b, win_a, win_b, tie, flipped,
            status), with output_a/output_b texts for the length and style figures.
        verdicts: per-order verdicts (position_order, status, p_first, p_second, p_tie).
        calls: the judge calls behind them (latency, tokens, cost).
        human: human labels (pairs and/or scores).
        judge_scores: pointwise scores (prompt_id, model, score) for score correlations.
        members: a panel's per-member outcomes (member, judge_id, sample + outcome columns):
            flip rate, repeat variance and Krippendorff's α come from them.
        self_model: the candidate produced by the judge's own model, for self-preference.
    """
    rows, notes = _Rows(), []
    ok = comparisons[comparisons["status"] == "ok"]
    texts = "output_a" in ok and ok["output_a"].notna().all() and ok["output_b"].notna().all()

    joined = None
    if human is not None and not human.pairs.empty and not ok.empty:
        joined = join_labels(ok, human.pairs)
        if joined.empty:
            notes.append("None of the human labels matches a comparison of this run.")
        else:
            _human_rows(rows, joined, verdicts, human.pairs)
    if human is not None and not human.scores.empty:
        if judge_scores is None or judge_scores.empty:
            notes.append("Human scores were given, but this run has no pointwise scores.")
        else:
            paired = join_scores(judge_scores, human.scores)
            corr = meta.score_correlations(paired["judge"], paired["human"])
            for name in ("pearson", "spearman", "kendall"):
                rows.add("human", f"score {name.capitalize()}", corr[name], corr["n"])
    if human is None or human.empty:
        notes.append("No human labels: agreement with humans and the DBG score are not measured.")

    # -- consistency
    source = members if members is not None and not members.empty else comparisons
    flips = meta.flip_rate(source)
    rows.add(
        "consistency",
        "position flip rate",
        flips["value"],
        flips["n"],
        what="winner changes when the answers swap places",
    )
    if verdicts is not None and not verdicts.empty:
        first = meta.position_preference(verdicts)
        rows.add(
            "consistency",
            "first-position preference",
            first["value"],
            first["n"],
            what="decisive per-order verdicts for the answer shown first",
        )
    if members is not None and not members.empty:
        _panel_rows(rows, members, notes)
    else:
        notes.append("Each comparison was judged once: repeat variance needs a panel with repeats.")
    cycles = meta.transitivity_violations(comparisons)
    rows.add(
        "consistency",
        "transitivity violations",
        cycles["value"],
        cycles["n"],
        cycles=cycles["cycles"],
        prompts_with_cycles=cycles["prompts_with_cycles"],
    )

    # -- biases
    length_table = pd.DataFrame()
    if texts and len(ok):
        sized = _lengths(ok)
        longer = meta.length_preference(sized)
        rows.add(
            "bias",
            "P(prefer longer)",
            longer["value"],
            longer["n"],
            ci_low=longer["ci_low"],
            ci_high=longer["ci_high"],
        )
        lc = length_controlled_win_rates(sized)
        length_table = lc.table
        shift = (lc.table["lc_win_rate"] - lc.table["win_rate"]).abs()
        rows.add(
            "bias",
            "length coefficient",
            lc.length_coef,
            len(sized),
            what="GLM slope of tanh(length difference / sd)",
        )
        rows.add(
            "bias",
            "LC win-rate shift",
            float(shift.max()),
            len(lc.table),
            per_model=lc.table.set_index("model")[["win_rate", "lc_win_rate"]].to_dict("index"),
        )
        style = meta.style_preference(sized)
        rows.add("bias", "prefers more list items", style["lists"]["value"], style["lists"]["n"])
        rows.add(
            "bias", "prefers more markdown", style["markdown"]["value"], style["markdown"]["n"]
        )
    elif len(ok):
        notes.append("The run stored no answer texts: length and style biases are not measured.")
    if self_model is not None:
        self_pref = meta.self_preference(ok, self_model=self_model, human=joined)
        rows.add(
            "bias",
            "self-preference rate",
            self_pref["rate"],
            self_pref["n"],
            self_model=self_model,
            note="raw rate, without gold labels",
        )
        if "dbg" in self_pref:
            rows.add(
                "bias",
                "self-preference DBG",
                self_pref["dbg"],
                self_pref["n_labelled"],
                judge_rate=self_pref["judge_rate"],
                gold_rate=self_pref["gold_rate"],
            )

    # -- operations
    ops = meta.operations(
        calls if calls is not None else pd.DataFrame(columns=["latency_s", "status"]),
        verdicts if verdicts is not None else pd.DataFrame(columns=["status"]),
    )
    rows.add("operations", "parse-failure rate", ops["parse_failure_rate"], ops["verdicts"])
    rows.add("operations", "judge-error rate", ops["judge_error_rate"], ops["verdicts"])
    rows.add("operations", "mean latency (s)", ops["mean_latency_s"], ops["calls"])
    rows.add("operations", "p95 latency (s)", ops["p95_latency_s"], ops["calls"])
    rows.add("operations", "prompt tokens", ops["prompt_tokens"], ops["calls"])
    rows.add("operations", "completion tokens", ops["completion_tokens"], ops["calls"])
    rows.add("operations", "cost", ops["cost"], ops["calls"])
    return MetaReport(run_id, rows.frame(), length_table, notes)


def _human_rows(
    rows: _Rows, joined: pd.DataFrame, verdicts: pd.DataFrame | None, pairs: pd.DataFrame
) -> None:
    judge = meta.outcome_labels(joined["win_a"], joined["win_b"], joined["tie"])
    human, weight = joined["human"].to_numpy(), joined["weight"].to_numpy(dtype=float)
    with_ties = meta.accuracy(judge, human, ties=True, weights=weight)
    without = meta.accuracy(judge, human, ties=False, weights=weight)
    kappa = meta.cohen_kappa(judge, human, weights=weight)
    rows.add(
        "human",
        "labelled comparisons",
        len(joined),
        len(pairs),
        comparisons=int(joined[["prompt_id", "model_a", "model_b"]].drop_duplicates().shape[0]),
    )
    rows.add(
        "human",
        "accuracy (with ties)",
        with_ties["value"],
        with_ties["n"],
        what="3-way agreement of the debiased verdict with each human label",
    )
    rows.add(
        "human",
        "accuracy (without ties)",
        without["value"],
        without["n"],
        what="pairs where neither the judge nor the human chose a tie",
    )
    rows.add("human", "Cohen's kappa", kappa, len(joined))
    if verdicts is None or verdicts.empty or "member" in verdicts:
        return
    per_order = meta.order_outcomes(verdicts)
    for order, name in (("ab", "first order only (ab)"), ("ba", "second order only (ba)")):
        single = join_labels(per_order[per_order["position_order"] == order], pairs)
        if single.empty:
            continue
        label = meta.outcome_labels(single["win_a"], single["win_b"], single["tie"])
        acc = meta.accuracy(label, single["human"].to_numpy(), weights=single["weight"])
        agree = (label == meta.outcome_labels(*_debiased(single, joined))).mean()
        rows.add(
            "human",
            f"accuracy, {name}",
            acc["value"],
            acc["n"],
            debiased_accuracy=with_ties["value"],
            agreement_with_debiased=float(agree),
        )


def _debiased(single: pd.DataFrame, joined: pd.DataFrame) -> tuple[Any, Any, Any]:
    """The debiased outcome of each single-order row, aligned by comparison key."""
    keys = ["prompt_id", "model_a", "model_b"]
    base = joined.drop_duplicates(keys).set_index(keys)[["win_a", "win_b", "tie"]]
    aligned = base.reindex(pd.MultiIndex.from_frame(single[keys]))
    return aligned["win_a"], aligned["win_b"], aligned["tie"]


def _panel_rows(rows: _Rows, members: pd.DataFrame, notes: list[str]) -> None:
    ok = members[members["status"] == "ok"]
    variances = []
    for judge_id, group in ok.groupby("judge_id", sort=True):
        if group["sample"].nunique() < 2:
            continue
        stats = meta.repeat_variance(group)
        variances.append((judge_id, stats))
    if variances:
        n = sum(s["n"] for _, s in variances)
        var = sum(s["variance"] * s["n"] for _, s in variances) / n
        agree = sum(s["agreement"] * s["n"] for _, s in variances) / n
        detail = {j: {"variance": s["variance"], "agreement": s["agreement"]} for j, s in variances}
        rows.add("consistency", "repeat variance", var, n, per_judge=detail)
        rows.add("consistency", "repeat agreement", agree, n)
    else:
        notes.append("No judge of the panel was sampled twice: repeat variance is not measured.")
    from judgekit.quality.panel import panel_alpha

    judges = sorted(ok["judge_id"].unique())
    if len(judges) >= 2:
        units = ok[["prompt_id", "model_a", "model_b"]].drop_duplicates()
        rows.add(
            "consistency",
            "inter-judge alpha",
            panel_alpha(members),
            len(units),
            judges=judges,
            level="nominal",
        )


def infer_self_model(judge_id: str | None, models: list[str]) -> str | None:
    """The candidate whose name is the judge's model (``openai/gpt-4o`` -> ``gpt-4o``)."""
    if not judge_id:
        return None
    name = judge_id.partition("/")[2] or judge_id
    return name if name in models else None


def judge_report(
    store: Store,
    *,
    run_id: str,
    human: HumanLabels | None = None,
    self_model: str | None = None,
    save: bool = True,
) -> MetaReport:
    """Compute the judge-quality report of a stored run and (by default) store it.

    Args:
        run_id: the run to assess.
        human: human labels to check against; they are stored with the run. Without them,
            labels stored earlier for the run are used.
        self_model: the candidate made by the judge's own model; inferred from the judge id
            when it names a candidate.
        save: write the report to ``meta_reports`` (the store must be writable).

    Raises:
        StoreError: no such run.
    """
    if mq.run_kind(store, run_id=run_id) is None:
        raise StoreError(f"{store.path}: no run {run_id!r}")
    if human is not None and save:
        mq.write_human_labels(store, run_id=run_id, labels=human)
    labels = human if human is not None else mq.human_labels(store, run_id=run_id)
    comparisons = mq.comparisons(store, run_id=run_id)
    members = mq.panel_outcomes(store, run_id=run_id)
    config = mq.run_config(store, run_id=run_id).get("config", {})
    if self_model is None:
        models = sorted(set(comparisons["model_a"]) | set(comparisons["model_b"]))
        self_model = infer_self_model(config.get("judge"), models)
    report = report_from_frames(
        comparisons,
        run_id=run_id,
        verdicts=mq.verdicts(store, run_id=run_id),
        calls=mq.calls(store, run_id=run_id),
        human=None if labels.empty else labels,
        judge_scores=mq.scores(store, run_id=run_id),
        members=members if not members.empty else None,
        self_model=self_model,
    )
    report.trust = run_trust(store, run_id=run_id, comparisons=comparisons, labels=labels)
    if save:
        mq.write_report(store, run_id=run_id, metrics=report.metrics)
        if report.trust is not None:
            tq.write_trust(store, run_id=run_id, report=report.trust.to_dict())
    return report


def run_trust(
    store: Store, *, run_id: str, comparisons: pd.DataFrame, labels: HumanLabels | None
) -> TrustReport | None:
    """The run's trust report with label figures from ``labels`` (where they match).

    The report stored with the run is the base; a run stored without one (imported
    outcomes, an older store) gets a pairwise report computed from its comparisons, its
    per-order verdicts and its stored Bradley-Terry CIs. None for a run with neither.
    """
    stored = tq.load_trust(store, run_id)
    trust = None if stored is None else TrustReport.from_dict(stored)
    if trust is None and not comparisons.empty:
        models = sorted(set(comparisons["model_a"]) | set(comparisons["model_b"]))
        verdicts = mq.verdicts(store, run_id=run_id)
        try:
            board = queries.leaderboard(store, run_id=run_id, method="bt")
        except StoreError:
            board = None
        trust = pairwise_trust(
            comparisons,
            models=models,
            verdicts=verdicts if "member" not in verdicts else None,
            board=board,
        )
    if trust is None or labels is None or labels.pairs.empty or comparisons.empty:
        return trust
    ok = comparisons[comparisons["status"] == "ok"]
    joined = join_labels(ok, labels.pairs)
    return with_labels(trust, joined_label_figures(joined)) if not joined.empty else trust


def comparison_table(reports: Mapping[str, MetaReport]) -> pd.DataFrame:
    """One row per judge, one column per headline figure (:data:`COMPARISON_METRICS`)."""
    rows = []
    for judge, report in reports.items():
        row: dict[str, Any] = {"judge": judge, "run_id": report.run_id}
        for metric in COMPARISON_METRICS:
            row[metric] = report.value(metric)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["judge", "run_id", *COMPARISON_METRICS])
    return frame.dropna(axis=1, how="all")


def stored_report(store: Store, *, run_id: str) -> MetaReport | None:
    """The report stored for a run, or None when none was made."""
    frame = mq.report(store, run_id=run_id)
    if frame.empty:
        return None
    return MetaReport(run_id, frame)
