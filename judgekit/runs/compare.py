"""Pairwise compare: plan pairs, judge both orders, combine, store and rank.

:func:`compare` is the entry point of the library API (``judgekit.compare``); the listwise
protocol, the adaptive schedule and judge panels branch off from it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from judgekit.errors import ConfigError, JudgeError
from judgekit.inputs.outputs import OutputSet
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.plan import Comparison, parse_schedule, plan_comparisons
from judgekit.protocols.pairwise import PairwiseSpec, load_pairwise_template, plan_requests
from judgekit.protocols.parse import parse_pairwise
from judgekit.quality.trust import emit_warnings, pairwise_trust
from judgekit.rank.outcomes import build_leaderboard, outcomes_frame
from judgekit.runs.failures import no_usable_verdicts
from judgekit.runs.options import CompareOptions
from judgekit.runs.progress import make_progress
from judgekit.runs.records import (
    CompareResult,
    OutputsArg,
    combine_verdicts,
    compare_run_id,
    input_tables,
    judging_criteria,
    label_trust,
    load_comparable,
    resolve_human,
    run_summary,
    store_trust,
    verdict_rows,
)
from judgekit.runs.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.runs.turns import (
    add_turn_columns,
    n_turns,
    per_turn_boards,
    turn_method,
    with_later_turns,
)
from judgekit.store.db import Store, open_store

if TYPE_CHECKING:
    from judgekit.inputs.human import HumanLabels

log = logging.getLogger("judgekit")


CHUNK_COMPARISONS = 1024


def compare(
    outputs: OutputsArg,
    *,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    options: CompareOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    human: str | Path | HumanLabels | None = None,
    **overrides: Any,
) -> CompareResult:
    """Judge every planned pair in both orders, store everything and rank the models.

    Args:
        outputs: output files (JSONL, CSV, Parquet, AlpacaEval JSON) or DataFrames.
        judge: a judge id such as ``"hf/smollm2"`` or ``"openai/gpt-4o-mini"``, or a Judge.
        db: the DuckDB store (``":memory:"`` for a throwaway run).
        options: a :class:`CompareOptions`; keyword ``overrides`` update it
            (``compare(files, schedule="sample:2", seed=1)``).
        judge_options: backend options such as ``base_url`` or ``concurrency``.
        progress: show a progress bar on stderr.
        human: human pairwise labels (a file in any layout ``judgekit meta`` reads, or
            :class:`~judgekit.inputs.human.HumanLabels`): the trust report then adds accuracy,
            κ, a test against chance and the trivial baselines.

    Returns:
        A :class:`CompareResult` with ``leaderboard``, ``outcomes`` and ``verdicts`` frames
        and the run's ``trust`` report. Each of the report's warnings is also raised as a
        :class:`~judgekit.errors.JudgeTrustWarning`.

    Raises:
        InputError, ConfigError, MissingDependencyError, JudgeUnavailable, StoreError: before
        anything is written to the store.
    """
    opts = (options or CompareOptions()).model_copy(update=overrides) if overrides else options
    opts = CompareOptions.model_validate(opts.model_dump()) if opts else CompareOptions()
    labels = resolve_human(human)
    if opts.protocol == "listwise":
        return _compare_listwise(outputs, opts, judge, db, judge_options, progress, labels)
    if opts.k is not None or opts.permutations is not None:
        raise ConfigError("k (--k) and permutations (--permutations) apply to --protocol listwise")
    schedule = parse_schedule(opts.schedule)
    if schedule.kind == "adaptive":
        from judgekit.runs.adaptive import run_adaptive

        assert schedule.n is not None
        return run_adaptive(
            outputs,
            budget=schedule.n,
            judge=judge,
            db=db,
            options=opts,
            judge_options=judge_options,
            progress=progress,
            human=labels,
        )
    data = load_comparable(outputs)
    by_prompt = data.by_prompt()
    comparisons = plan_comparisons(
        {pid: list(c) for pid, c in by_prompt.items()}, schedule=schedule, seed=opts.seed
    )
    # Every later turn of a conversation is one more comparison of the same pair.
    comparisons = with_later_turns(comparisons, data.items)
    judge_obj = get_judge(judge, options=judge_options) if isinstance(judge, str) else judge
    mode = opts.verdict
    if mode == "auto":
        mode = "logprobs" if judge_obj.supports_logprobs else "generate"
    spec = PairwiseSpec(
        mode=mode,
        criteria=judging_criteria(opts) or PairwiseSpec().criteria,
        template=opts.template,
        fenced=opts.fenced,
    )
    load_pairwise_template(spec.template)  # a bad template fails here, before the store
    config = {**opts.model_dump(), "verdict_mode": mode, "judge": judge_obj.id}
    run_id = compare_run_id(data, judge_id=judge_obj.id, config=config)
    config["inputs"] = data.sources
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="compare", config=config, run_id=run_id)
        empty = pd.DataFrame()
        store.replace_rows(
            run_id,
            {
                **add_turn_columns(input_tables(run_id, data), data),
                "verdicts": empty,
                "outcomes": empty,
            },
        )
        try:
            frame, verdicts, exec_stats, parse_failures = _judge_in_chunks(
                comparisons,
                data=data,
                by_prompt=by_prompt,
                spec=spec,
                judge=judge_obj,
                store=store,
                run_id=run_id,
                opts=opts,
                progress=progress,
            )
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        stats = run_summary(frame, parse_failures, exec_stats, len(data.skipped_prompts))
        stats["turns"] = n_turns(data)
        if not (frame["status"] == "ok").any():
            # Nothing to rank: say why, keep the failed calls (a re-run retries them).
            store.finish_run(run_id, status="failed", stats=stats)
            raise JudgeError(no_usable_verdicts(verdicts, judge=judge_obj))
        started = time.perf_counter()

        def rank(rows: pd.DataFrame) -> pd.DataFrame:
            return build_leaderboard(
                rows, models=data.models, ties=opts.ties, bootstrap=opts.bootstrap, seed=opts.seed
            )

        board = rank(frame)
        store.write_ratings(run_id=run_id, method="bt", frame=board)
        boards = per_turn_boards(frame, rank)
        for turn, turn_board in boards.items():
            store.write_ratings(run_id=run_id, method=turn_method("bt", turn), frame=turn_board)
        stats["ranking_seconds"] = round(time.perf_counter() - started, 3)
        trust = pairwise_trust(
            frame,
            models=data.models,
            verdicts=verdicts,
            board=board,
            labels=label_trust(frame, data, labels, seed=opts.seed),
        )
        store_trust(store, run_id, trust, labels)
        store.finish_run(run_id, stats=stats)
    emit_warnings(trust)
    return CompareResult(
        run_id=run_id,
        leaderboard=board,
        outcomes=frame,
        verdicts=verdicts,
        stats=stats,
        trust=trust,
        turn_leaderboards=boards,
    )


def _compare_listwise(
    outputs: OutputsArg,
    opts: CompareOptions,
    judge: str | Judge,
    db: str | Path,
    judge_options: JudgeOptions | None,
    progress: bool,
    human: HumanLabels | None,
) -> CompareResult:
    """``protocol="listwise"``: rank K answers per call, aggregated by Plackett-Luce."""
    from judgekit.runs.listwise import ListwiseOptions, compare_listwise

    if opts.schedule != "all-pairs":
        raise ConfigError(
            f"--schedule {opts.schedule} applies to the pairwise protocol; listwise ranks "
            "every prompt's models in blocks of --k"
        )
    options = ListwiseOptions(
        k=opts.k,
        permutations=opts.permutations,
        seed=opts.seed,
        verdict=opts.verdict,
        criteria=judging_criteria(opts),
        template="listwise" if opts.template == "pairwise" else opts.template,
        bootstrap=opts.bootstrap,
    )
    return compare_listwise(
        outputs,
        judge=judge,
        db=db,
        options=options,
        judge_options=judge_options,
        progress=progress,
        human=human,
    )


def _judge_in_chunks(
    comparisons: Sequence[Comparison],
    *,
    data: OutputSet,
    by_prompt: dict[str, dict[str, Any]],
    spec: PairwiseSpec,
    judge: Judge,
    store: Store,
    run_id: str,
    opts: CompareOptions,
    progress: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, ExecutionStats, int]:
    """Render, judge, parse and combine a chunk of comparisons at a time.

    Requests are rendered per chunk and dropped after it, so a run of 100k comparisons never
    holds 200k prompts in memory; verdicts and outcomes are appended to the store per chunk.
    """
    outcome_frames: list[pd.DataFrame] = []
    verdict_frames: list[pd.DataFrame] = []
    totals = EMPTY_STATS
    parse_failures = 0
    bar = make_progress(enabled=progress)
    with bar:
        task = bar.add_task(
            f"judging {len(comparisons)} pairs × 2 orders", total=2 * len(comparisons)
        )
        for offset in range(0, len(comparisons), CHUNK_COMPARISONS):
            chunk = comparisons[offset : offset + CHUNK_COMPARISONS]
            planned = plan_requests(chunk, items=data.items, candidates=by_prompt, spec=spec)
            requests = [p.request for p in planned]
            responses, stats = execute(requests, judge=judge, store=store, progress=bar, task=task)
            totals = totals + stats
            verdicts = [parse_pairwise(r) for r in responses]
            parse_failures += sum(v.status == "parse_error" for v in verdicts)
            hashes = [r.hash_for(judge.id) for r in requests]
            verdict_frame = verdict_rows(run_id, planned, verdicts, hashes)
            verdict_frame["turn"] = [p.comparison.turn for p in planned]
            outcomes = outcomes_frame(
                combine_verdicts(planned, verdicts, disagreement=opts.disagreement)
            )
            # combine_verdicts keeps the comparisons in their order of first appearance.
            outcomes["turn"] = [c.turn for c in dict.fromkeys(p.comparison for p in planned)]
            store.append_rows(
                {"verdicts": verdict_frame, "outcomes": outcomes.assign(run_id=run_id)}
            )
            outcome_frames.append(outcomes)
            verdict_frames.append(verdict_frame.drop(columns="run_id"))
    return (
        pd.concat(outcome_frames, ignore_index=True),
        pd.concat(verdict_frames, ignore_index=True),
        totals,
        parse_failures,
    )
