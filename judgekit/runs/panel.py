"""Judge panels: judge every comparison with several judges and pool their verdicts.

Each member runs the spine's pairwise protocol unchanged (both orders rendered by
:func:`~judgekit.protocols.pairwise.plan_requests`, answered through
:func:`~judgekit.runs.runner.execute` with the store as cache, parsed by
:func:`~judgekit.protocols.parse.parse_pairwise` and debiased by
:func:`~judgekit.protocols.debias.combine_orders`). The members' outcomes are then pooled
per comparison:

- ``mean``: the mean of the members' (win_a, win_b, tie) probabilities, the panel analogue of
  averaging a judge's two orders;
- ``majority``: each member votes for its outcome's label; the label with the most votes
  wins, and a draw between the two models is a tie.

A judge listed with ``repeats > 1`` is sampled several times under distinct ids
(``<judge>#2``...), so that its samples are separate cached requests; its samples are
averaged before pooling, so repeats measure a judge's variance without outvoting the others.
Inter-judge agreement is Krippendorff's α (nominal, over the members' labels). The pooled
outcomes go to the ``outcomes`` table and feed the ranking like any run's; each member's
verdicts and outcomes are kept in ``panel_verdicts`` and ``panel_outcomes``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError
from judgekit.inputs.human import HumanLabels
from judgekit.inputs.labels import outcome_labels
from judgekit.inputs.outputs import OutputSet, load_outputs
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.plan import Comparison, parse_schedule, plan_comparisons
from judgekit.protocols.pairwise import PairwiseSpec, load_pairwise_template, plan_requests
from judgekit.protocols.parse import parse_pairwise
from judgekit.quality.panel import KEYS, outcome_probs, panel_alpha, per_judge_outcomes
from judgekit.quality.trust import emit_warnings, pairwise_trust
from judgekit.rank.outcomes import build_leaderboard, outcomes_frame
from judgekit.runs.options import CompareOptions
from judgekit.runs.progress import make_progress
from judgekit.runs.records import (
    CompareResult,
    OutputsArg,
    combine_verdicts,
    input_tables,
    judging_criteria,
    label_trust,
    output_list,
    resolve_human,
    store_trust,
    verdict_rows,
)
from judgekit.runs.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.runs.turns import refuse_multi_turn
from judgekit.store.db import Store, open_store
from judgekit.types import JudgeRequest, JudgeResponse

log = logging.getLogger("judgekit")

PoolRule = Literal["mean", "majority"]
POOL_RULES = ("mean", "majority")
CHUNK_COMPARISONS = 512


class SampledJudge:
    """A judge's k-th sample: the same backend under the id ``<judge id>#k``.

    The request hash includes the judge id, so each sample is its own cached call; sample 1
    keeps the plain id and shares its cache with ordinary runs of that judge.
    """

    def __init__(self, judge: Judge, *, sample: int) -> None:
        self.inner = judge
        self.sample = sample
        self.id = judge.id if sample == 1 else f"{judge.id}#{sample}"
        self.supports_logprobs = judge.supports_logprobs
        self.batch_size = judge.batch_size

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        return self.inner.judge(requests)


@dataclass(frozen=True)
class PanelMember:
    """One seat of a panel: a judge (or one of its samples)."""

    judge: Judge
    judge_id: str
    sample: int

    @property
    def member(self) -> str:
        return self.judge.id


def panel_members(judges: Sequence[Judge], *, repeats: int = 1) -> list[PanelMember]:
    """Every judge, sampled ``repeats`` times.

    Raises:
        ConfigError: fewer than two judge samples, or a judge id listed twice.
    """
    if repeats < 1:
        raise ConfigError("repeats must be at least 1")
    ids = [j.id for j in judges]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"a judge is listed twice in the panel: {', '.join(ids)}")
    if len(judges) * repeats < 2:
        raise ConfigError("a panel needs two judges, or one judge with repeats >= 2")
    return [
        PanelMember(SampledJudge(j, sample=k) if k > 1 else j, j.id, k)
        for j in judges
        for k in range(1, repeats + 1)
    ]


def pool_outcomes(members: pd.DataFrame, *, rule: PoolRule = "mean") -> pd.DataFrame:
    """Pool the members' outcomes into one outcome per comparison.

    Args:
        members: member outcomes (judge_id, sample and the outcome columns).
        rule: ``mean`` (mean probabilities) or ``majority`` (plurality of labels; a draw
            between the models is a tie, and so is a draw involving the tie label).

    Returns:
        An outcomes frame. ``flipped`` is True when most judges flipped; a comparison no
        judge could judge keeps the first member's failure status.
    """
    if rule not in POOL_RULES:
        raise ConfigError(f"unknown pooling rule {rule!r}; use mean or majority")
    per_judge = per_judge_outcomes(members)
    grouped = per_judge.groupby(KEYS, sort=True)
    if rule == "mean":
        pooled = grouped.agg(
            win_a=("win_a", "mean"), win_b=("win_b", "mean"), tie=("tie", "mean")
        ).reset_index()
    else:
        votes = per_judge.assign(label=outcome_labels(*outcome_probs(per_judge)))
        counts = votes.pivot_table(
            index=KEYS, columns="label", values="judge_id", aggfunc="count", fill_value=0
        ).reindex(columns=["a", "b", "tie"], fill_value=0)
        top = counts.max(axis=1)
        a_wins = (counts["a"] == top) & (counts["b"] < top) & (counts["tie"] < top)
        b_wins = (counts["b"] == top) & (counts["a"] < top) & (counts["tie"] < top)
        pooled = pd.DataFrame(
            {
                "win_a": a_wins.astype(float),
                "win_b": b_wins.astype(float),
                "tie": (~(a_wins | b_wins)).astype(float),
            }
        ).reset_index()
    flipped = grouped["flipped"].mean().gt(0.5).rename("flipped").reset_index()
    pooled = pooled.merge(flipped, on=KEYS).assign(status="ok")
    failed = (
        members.drop_duplicates(KEYS)[KEYS]
        .merge(pooled[KEYS], on=KEYS, how="left", indicator=True)
        .query("_merge == 'left_only'")[KEYS]
    )
    if not failed.empty:
        first_status = members.groupby(KEYS, sort=False)["status"].first().reset_index()
        failed = failed.merge(first_status, on=KEYS).assign(
            win_a=0.0, win_b=0.0, tie=0.0, flipped=False
        )
        pooled = pd.concat([pooled, failed], ignore_index=True)
    columns = [*KEYS, "win_a", "win_b", "tie", "flipped", "status"]
    return pooled[columns].sort_values(KEYS, kind="stable").reset_index(drop=True)


@dataclass
class PanelResult:
    """What :func:`judge_panel` returns."""

    outcomes: pd.DataFrame
    """Pooled outcomes, one per comparison."""
    members: pd.DataFrame
    """Each member's outcomes (member, judge_id, sample + outcome columns)."""
    stats: dict[str, Any]


def judge_panel(
    comparisons: Sequence[Comparison],
    *,
    data: OutputSet,
    members: Sequence[PanelMember],
    store: Store,
    run_id: str,
    opts: CompareOptions,
    pool: PoolRule = "mean",
    progress: bool = False,
) -> PanelResult:
    """Judge ``comparisons`` with every member, store the members' rows, pool them.

    Requests are rendered once per verdict mode per chunk and shared by the members that
    use that mode; the pooled outcomes of each chunk are appended to ``outcomes`` as the
    chunk finishes, so an interrupted panel resumes from the judge-call cache.
    """
    # A panel judges by the same criteria as a single judge: --criteria, or the rubric's.
    criteria = judging_criteria(opts) or PairwiseSpec().criteria
    by_prompt = data.by_prompt()
    member_frames: list[pd.DataFrame] = []
    totals: dict[str, ExecutionStats] = {m.member: EMPTY_STATS for m in members}
    failures = dict.fromkeys(totals, 0)
    bar = make_progress(enabled=progress)
    with bar:
        task = bar.add_task(
            f"panel of {len(members)}: {len(comparisons)} pairs × 2 orders",
            total=2 * len(comparisons) * len(members),
        )
        for offset in range(0, len(comparisons), CHUNK_COMPARISONS):
            chunk = comparisons[offset : offset + CHUNK_COMPARISONS]
            planned_by_mode: dict[str, Any] = {}
            chunk_members = []
            chunk_verdicts = []
            for member in members:
                mode = _mode(opts, member.judge)
                if mode not in planned_by_mode:
                    spec = PairwiseSpec(
                        mode=mode,  # type: ignore[arg-type]
                        criteria=criteria,
                        template=opts.template,
                        fenced=opts.fenced,
                    )
                    planned_by_mode[mode] = plan_requests(
                        chunk, items=data.items, candidates=by_prompt, spec=spec
                    )
                planned = planned_by_mode[mode]
                requests = [p.request for p in planned]
                responses, executed = execute(
                    requests, judge=member.judge, store=store, progress=bar, task=task
                )
                totals[member.member] = totals[member.member] + executed
                verdicts = [parse_pairwise(r) for r in responses]
                failures[member.member] += sum(v.status == "parse_error" for v in verdicts)
                hashes = [r.hash_for(member.judge.id) for r in requests]
                tags = {"member": member.member, "judge_id": member.judge_id}
                tags_sample = {**tags, "sample": member.sample}
                chunk_verdicts.append(
                    verdict_rows(run_id, planned, verdicts, hashes).assign(**tags_sample)
                )
                outcomes = outcomes_frame(
                    combine_verdicts(planned, verdicts, disagreement=opts.disagreement)
                ).assign(**tags_sample)
                chunk_members.append(outcomes)
            member_chunk = pd.concat(chunk_members, ignore_index=True)
            pooled = pool_outcomes(member_chunk, rule=pool)
            store.append_rows(
                {
                    "panel_verdicts": pd.concat(chunk_verdicts, ignore_index=True),
                    "panel_outcomes": member_chunk.assign(run_id=run_id),
                    "outcomes": pooled.assign(run_id=run_id),
                }
            )
            member_frames.append(member_chunk)
    member_outcomes = pd.concat(member_frames, ignore_index=True)
    pooled_all = pool_outcomes(member_outcomes, rule=pool)
    stats = _panel_stats(member_outcomes, pooled_all, totals, failures, pool=pool)
    return PanelResult(outcomes=pooled_all, members=member_outcomes, stats=stats)


def _mode(opts: CompareOptions, judge: Judge) -> str:
    if opts.verdict != "auto":
        return opts.verdict
    return "logprobs" if judge.supports_logprobs else "generate"


def _panel_stats(
    members: pd.DataFrame,
    pooled: pd.DataFrame,
    totals: dict[str, ExecutionStats],
    failures: dict[str, int],
    *,
    pool: str,
) -> dict[str, Any]:
    ok = pooled[pooled["status"] == "ok"]
    per_member = {}
    for member, group in members.groupby("member", sort=True):
        usable = group[group["status"] == "ok"]
        per_member[str(member)] = {
            "flip_rate": float(usable["flipped"].mean()) if len(usable) else 0.0,
            "usable_comparisons": len(usable),
            "parse_failures": failures[str(member)],
            "judge_calls_made": totals[str(member)].called,
            "judge_calls_cached": totals[str(member)].cached,
        }
    alpha = panel_alpha(members)
    return {
        "comparisons": len(pooled),
        "usable_comparisons": len(ok),
        "pool": pool,
        "members": per_member,
        "krippendorff_alpha": None if np.isnan(alpha) else float(alpha),
        "judge_calls_made": sum(t.called for t in totals.values()),
        "judge_calls_cached": sum(t.cached for t in totals.values()),
        "judge_calls_failed": sum(t.failed for t in totals.values()),
        "parse_failures": sum(failures.values()),
        "flip_rate": float(members[members["status"] == "ok"]["flipped"].mean())
        if (members["status"] == "ok").any()
        else 0.0,
        "tie_rate": float(ok["tie"].mean()) if len(ok) else 0.0,
        "judging_seconds": round(sum(t.seconds for t in totals.values()), 3),
    }


def compare_panel(
    outputs: OutputsArg,
    *,
    judges: Sequence[str | Judge],
    db: str | Path = "judgekit.duckdb",
    pool: PoolRule = "mean",
    repeats: int = 1,
    options: CompareOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    human: str | Path | HumanLabels | None = None,
    **overrides: Any,
) -> CompareResult:
    """Like :func:`judgekit.compare`, with a panel of judges instead of one.

    Args:
        outputs: output files or DataFrames, as for ``compare``.
        judges: judge ids or Judge objects (two or more, or one with ``repeats >= 2``).
        db: the DuckDB store.
        pool: ``mean`` or ``majority`` (see the module docstring).
        repeats: samples per judge (> 1 measures repeat variance).
        options, judge_options, progress, human, overrides: as for ``compare``.

    Returns:
        A :class:`~judgekit.runs.compare.CompareResult`: the leaderboard from the pooled outcomes,
        the pooled outcomes, the members' outcomes (as ``verdicts``), and stats with
        ``krippendorff_alpha`` and per-member flip rates and failures, and the ``trust``
        report (its flip rate counts every member's comparisons).
    """
    opts = (options or CompareOptions()).model_copy(update=overrides)
    opts = CompareOptions.model_validate(opts.model_dump())
    if opts.protocol != "pairwise":
        raise ConfigError("a judge panel judges pairwise; --protocol listwise takes one --judge")
    if pool not in POOL_RULES:
        raise ConfigError(f"unknown pooling rule {pool!r}; use mean or majority")
    labels = resolve_human(human)
    data = load_outputs(output_list(outputs))
    refuse_multi_turn(data, feature="a judge panel")
    judge_objs = [get_judge(j, options=judge_options) if isinstance(j, str) else j for j in judges]
    members = panel_members(judge_objs, repeats=repeats)
    comparisons = plan_comparisons(
        {pid: list(c) for pid, c in data.by_prompt().items()},
        schedule=parse_schedule(opts.schedule),
        seed=opts.seed,
    )
    config = {
        **opts.model_dump(),
        "judges": [j.id for j in judge_objs],
        "pool": pool,
        "repeats": repeats,
        "judge": "panel:" + ",".join(j.id for j in judge_objs),
    }
    # A bad template or rubric fails here, before the store.
    load_pairwise_template(opts.template)
    judging_criteria(opts)
    payload = json.dumps({"inputs": data.digest(), **config}, sort_keys=True)
    run_id = "pnl-" + hashlib.sha256(payload.encode()).hexdigest()[:10]
    config["inputs"] = data.sources
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="panel", config=config, run_id=run_id)
        empty = pd.DataFrame()
        store.replace_rows(
            run_id,
            {
                **input_tables(run_id, data),
                "outcomes": empty,
                "panel_verdicts": empty,
                "panel_outcomes": empty,
            },
        )
        try:
            result = judge_panel(
                comparisons,
                data=data,
                members=members,
                store=store,
                run_id=run_id,
                opts=opts,
                pool=pool,
                progress=progress,
            )
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        started = time.perf_counter()
        board = build_leaderboard(
            result.outcomes,
            models=data.models,
            ties=opts.ties,
            bootstrap=opts.bootstrap,
            seed=opts.seed,
        )
        store.write_ratings(run_id=run_id, method="bt", frame=board)
        stats = {**result.stats, "ranking_seconds": round(time.perf_counter() - started, 3)}
        stats["skipped_prompts"] = len(data.skipped_prompts)
        trust = pairwise_trust(
            result.outcomes,
            models=data.models,
            board=board,
            labels=label_trust(result.outcomes, data, labels, seed=opts.seed),
            flips=result.members,
        )
        store_trust(store, run_id, trust, labels)
        store.finish_run(run_id, stats=stats)
    emit_warnings(trust)
    return CompareResult(
        run_id=run_id,
        leaderboard=board,
        outcomes=result.outcomes,
        verdicts=result.members,
        stats=stats,
        trust=trust,
    )
