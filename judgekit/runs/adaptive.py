"""The adaptive pairwise schedule's loop: refit, choose a batch, judge it, store it.

The choice of pairs (posterior, expected information, prompt picking) is in
:mod:`judgekit.plan.adaptive`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from judgekit.errors import ConfigError, JudgeError
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.plan.adaptive import (
    MIN_BATCH,
    PromptPicker,
    batch_rng,
    bt_posterior,
    select_pairs,
)
from judgekit.rank import PairwiseData
from judgekit.runs.options import CompareOptions
from judgekit.runs.turns import refuse_multi_turn

if TYPE_CHECKING:
    from judgekit.inputs.human import HumanLabels
    from judgekit.runs.records import CompareResult, OutputsArg

log = logging.getLogger("judgekit")

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _pairwise_so_far(frames: Sequence[pd.DataFrame], models: Sequence[str]) -> PairwiseData | None:
    from judgekit.rank.outcomes import pairwise_data

    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if not (frame["status"] == "ok").any():
        return None
    return pairwise_data(frame, models=models)


def run_adaptive(
    outputs: OutputsArg,
    *,
    budget: int,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    options: CompareOptions | None = None,
    judge_options: JudgeOptions | None = None,
    batch: int | None = None,
    progress: bool = False,
    human: HumanLabels | None = None,
) -> CompareResult:
    """Compare models pairwise on an adaptive schedule of ``budget`` comparisons.

    Each comparison is judged in both orders (two judge calls) and combined as in
    :func:`judgekit.compare`; outcomes and verdicts are stored per batch. A re-run with the
    same inputs makes the same choices from the cached judge calls, so an interrupted run
    resumes without judging anything twice.

    Args:
        outputs: output files or DataFrames, as for :func:`judgekit.compare`.
        budget: comparisons to make (stops earlier when every pair has used every prompt).
        judge: a judge id or a Judge.
        db: the DuckDB store.
        options: compare options (verdict mode, criteria, ties, bootstrap, seed); the
            ``schedule`` field is ignored.
        judge_options: backend options.
        batch: comparisons per batch (default: the judge's batch size, at least 8).
        progress: show a progress bar on stderr.
        human: human labels for the trust report's label figures.

    Returns:
        A :class:`judgekit.runs.compare.CompareResult` with its ``trust`` report; ``stats``
        adds ``batches``.
    """
    from judgekit.judges.registry import get_judge
    from judgekit.protocols.pairwise import PairwiseSpec, load_pairwise_template, plan_requests
    from judgekit.protocols.parse import parse_pairwise
    from judgekit.quality.trust import emit_warnings, pairwise_trust
    from judgekit.rank.outcomes import build_leaderboard, outcomes_frame
    from judgekit.runs import records as api
    from judgekit.runs.failures import no_usable_verdicts
    from judgekit.runs.progress import make_progress
    from judgekit.runs.runner import EMPTY_STATS, execute
    from judgekit.store.db import open_store

    if budget < 1:
        raise ConfigError(f"the adaptive budget must be >= 1 comparison, got {budget}")
    opts = options or CompareOptions()
    data = api.load_comparable(outputs)
    refuse_multi_turn(data, feature="--schedule adaptive")
    judge_obj = get_judge(judge, options=judge_options) if isinstance(judge, str) else judge
    size = batch or max(MIN_BATCH, judge_obj.batch_size)
    if size < 1:
        raise ConfigError(f"batch must be >= 1, got {size}")
    mode = opts.verdict
    if mode == "auto":
        mode = "logprobs" if judge_obj.supports_logprobs else "generate"
    spec = PairwiseSpec(
        mode=mode,
        criteria=api.judging_criteria(opts) or PairwiseSpec().criteria,
        template=opts.template,
        fenced=opts.fenced,
    )
    load_pairwise_template(spec.template)  # a bad template fails here, before the store
    config = {
        **opts.model_dump(),
        "schedule": f"adaptive:{budget}",
        "batch": size,
        "verdict_mode": mode,
        "judge": judge_obj.id,
    }
    run_id = api.compare_run_id(data, judge_id=judge_obj.id, config=config)
    config["inputs"] = data.sources
    by_prompt = data.by_prompt()
    models = data.models
    picker = PromptPicker(by_prompt, models=models, seed=opts.seed)
    store = open_store(db)
    outcome_frames: list[pd.DataFrame] = []
    verdict_frames: list[pd.DataFrame] = []
    totals = EMPTY_STATS
    parse_failures = 0
    made = 0
    batches = 0
    with store, store.writer_lock():
        store.create_run(kind="compare", config=config, run_id=run_id)
        empty = pd.DataFrame()
        store.replace_rows(
            run_id, {**api.input_tables(run_id, data), "verdicts": empty, "outcomes": empty}
        )
        bar = make_progress(enabled=progress)
        try:
            with bar:
                task = bar.add_task(f"adaptive: {budget} pairs × 2 orders", total=2 * budget)
                while made < budget:
                    posterior = bt_posterior(
                        _pairwise_so_far(outcome_frames, models), n_models=len(models)
                    )
                    pairs = select_pairs(
                        posterior,
                        batch=min(size, budget - made),
                        rng=batch_rng(opts.seed, batches),
                        capacity=picker.capacity(),
                    )
                    if not pairs:
                        log.warning(
                            "adaptive schedule stopped after %d comparisons: every pair has "
                            "been judged on every prompt it shares",
                            made,
                        )
                        break
                    comparisons = [picker.take(i, j) for i, j in pairs]
                    planned = plan_requests(
                        comparisons, items=data.items, candidates=by_prompt, spec=spec
                    )
                    requests = [p.request for p in planned]
                    responses, stats = execute(
                        requests, judge=judge_obj, store=store, progress=bar, task=task
                    )
                    totals = totals + stats
                    verdicts = [parse_pairwise(r) for r in responses]
                    parse_failures += sum(v.status == "parse_error" for v in verdicts)
                    hashes = [r.hash_for(judge_obj.id) for r in requests]
                    verdict_rows = api.verdict_rows(run_id, planned, verdicts, hashes)
                    frame = outcomes_frame(
                        api.combine_verdicts(planned, verdicts, disagreement=opts.disagreement)
                    )
                    store.append_rows(
                        {"verdicts": verdict_rows, "outcomes": frame.assign(run_id=run_id)}
                    )
                    outcome_frames.append(frame)
                    verdict_frames.append(verdict_rows.drop(columns="run_id"))
                    made += len(comparisons)
                    batches += 1
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        if not outcome_frames:
            raise ConfigError("the adaptive schedule found no pair of models to compare")
        frame = pd.concat(outcome_frames, ignore_index=True)
        stats_out = api.run_summary(frame, parse_failures, totals, len(data.skipped_prompts))
        if not (frame["status"] == "ok").any():
            # Nothing to rank: say why, keep the failed calls (a re-run retries them).
            store.finish_run(run_id, status="failed", stats=stats_out)
            raise JudgeError(
                no_usable_verdicts(pd.concat(verdict_frames, ignore_index=True), judge=judge_obj)
            )
        started = time.perf_counter()
        board = build_leaderboard(
            frame, models=models, ties=opts.ties, bootstrap=opts.bootstrap, seed=opts.seed
        )
        store.write_ratings(run_id=run_id, method="bt", frame=board)
        stats_out["ranking_seconds"] = round(time.perf_counter() - started, 3)
        stats_out["batches"] = batches
        all_verdicts = pd.concat(verdict_frames, ignore_index=True)
        trust = pairwise_trust(
            frame,
            models=models,
            verdicts=all_verdicts,
            board=board,
            labels=api.label_trust(frame, data, human, seed=opts.seed),
        )
        api.store_trust(store, run_id, trust, human)
        store.finish_run(run_id, stats=stats_out)
    emit_warnings(trust)
    return api.CompareResult(
        run_id=run_id,
        leaderboard=board,
        outcomes=frame,
        verdicts=all_verdicts,
        stats=stats_out,
        trust=trust,
    )
