"""The library API: functions that run judgekit and return pandas DataFrames."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from judgekit.config import CompareOptions
from judgekit.errors import ConfigError
from judgekit.io.outputs import OutputSet, load_outputs
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.leaderboard import build_leaderboard, outcomes_frame
from judgekit.plan import Comparison, parse_schedule, plan_comparisons
from judgekit.progress import make_progress
from judgekit.protocols.debias import combine_orders
from judgekit.protocols.pairwise import PairwiseSpec, PlannedCall, plan_requests
from judgekit.protocols.parse import parse_pairwise
from judgekit.quality.trust import TrustReport, emit_warnings, joined_label_figures, pairwise_trust
from judgekit.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.store.db import Store, open_store
from judgekit.store.trust_queries import write_trust
from judgekit.types import Outcome, Verdict

if TYPE_CHECKING:
    from judgekit.human import HumanLabels

log = logging.getLogger("judgekit")

CHUNK_COMPARISONS = 1024

OutputsArg = str | Path | pd.DataFrame | Sequence[str | Path | pd.DataFrame]


@dataclass
class CompareResult:
    """What :func:`compare` returns."""

    run_id: str
    leaderboard: pd.DataFrame
    outcomes: pd.DataFrame
    verdicts: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    trust: TrustReport | None = None
    """How far the run's judge can be trusted, from its own verdicts (and human labels)."""

    def to_json(self) -> dict[str, Any]:
        return result_json(self.run_id, self.leaderboard, self.stats, trust=self.trust)


def _as_list(outputs: OutputsArg) -> list[str | Path | pd.DataFrame]:
    if isinstance(outputs, (str, Path, pd.DataFrame)):
        return [outputs]
    return list(outputs)


def load_comparable(outputs: OutputsArg) -> OutputSet:
    """Load outputs and warn about prompts that only one model answered (they are skipped)."""
    data = load_outputs(_as_list(outputs))
    if data.skipped_prompts:
        log.warning(
            "skipped %d prompt(s) answered by only one model: %s",
            len(data.skipped_prompts),
            ", ".join(data.skipped_prompts[:5]) + (" …" if len(data.skipped_prompts) > 5 else ""),
        )
    return data


def result_json(
    run_id: str,
    leaderboard: pd.DataFrame,
    stats: dict[str, Any],
    *,
    trust: TrustReport | None = None,
) -> dict[str, Any]:
    """The ``--json`` shape of a run's result: run id, leaderboard records, stats and the
    trust report (``trust``, when the run has one)."""
    out: dict[str, Any] = {
        "run_id": run_id,
        "leaderboard": json.loads(leaderboard.to_json(orient="records")),
        "stats": stats,
    }
    if trust is not None:
        out["trust"] = trust.to_dict()
    return out


def resolve_human(human: str | Path | HumanLabels | None) -> HumanLabels | None:
    """Human labels from a path (any layout the judge report reads) or as given."""
    if human is None:
        return None
    from judgekit.human import HumanLabels, load_human_labels

    labels = human if isinstance(human, HumanLabels) else load_human_labels(human)
    if labels.pairs.empty:
        raise ConfigError(
            f"{labels.source or 'human labels'}: no pairwise labels; a comparison is checked "
            "against pairwise human preferences"
        )
    return labels


def label_trust(
    outcomes: pd.DataFrame, data: OutputSet, human: HumanLabels | None, *, seed: int = 0
) -> dict[str, Any]:
    """Label figures of a run's usable outcomes against human labels (empty without any)."""
    if human is None:
        return {}
    from judgekit.human import join_labels

    ok = outcomes[outcomes["status"] == "ok"]
    texts = {(c.prompt_id, c.model): c.output for c in data.candidates}
    ok = ok.assign(
        output_a=[texts.get(k) for k in zip(ok["prompt_id"], ok["model_a"], strict=True)],
        output_b=[texts.get(k) for k in zip(ok["prompt_id"], ok["model_b"], strict=True)],
    )
    joined = join_labels(ok, human.pairs)
    if joined.empty:
        log.warning("none of the human labels in %s matches a comparison of this run", human.source)
    return joined_label_figures(joined, seed=seed)


def store_trust(store: Store, run_id: str, report: TrustReport, human: HumanLabels | None) -> None:
    """Keep the trust report (and the human labels it used) with the run."""
    write_trust(store, run_id=run_id, report=report.to_dict())
    if human is not None:
        from judgekit.store.meta_queries import write_human_labels

        write_human_labels(store, run_id=run_id, labels=human)


def _run_id(outputs: OutputSet, *, judge_id: str, config: dict[str, Any]) -> str:
    # The same inputs, judge and options give the same run id: a re-run replaces its rows.
    payload = json.dumps({"inputs": outputs.digest(), "judge": judge_id, **config}, sort_keys=True)
    return "cmp-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


def _verdict_rows(
    run_id: str, planned: Sequence[PlannedCall], verdicts: Sequence[Verdict], hashes: Sequence[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "prompt_id": [p.comparison.prompt_id for p in planned],
            "model_a": [p.comparison.model_a for p in planned],
            "model_b": [p.comparison.model_b for p in planned],
            "position_order": [p.order for p in planned],
            "request_hash": list(hashes),
            "status": [v.status for v in verdicts],
            "p_first": [v.p_first for v in verdicts],
            "p_second": [v.p_second for v in verdicts],
            "p_tie": [v.p_tie for v in verdicts],
            "discrete": [v.discrete for v in verdicts],
            "raw": [v.raw for v in verdicts],
            "error": [v.error for v in verdicts],
        }
    )


def _summary(
    frame: pd.DataFrame, parse_failures: int, exec_stats: ExecutionStats, skipped: int
) -> dict[str, Any]:
    ok = frame[frame["status"] == "ok"]
    return {
        "comparisons": int(len(frame)),
        "usable_comparisons": int(len(ok)),
        "judge_calls_planned": exec_stats.planned,
        "judge_calls_unique": exec_stats.unique,
        "judge_calls_cached": exec_stats.cached,
        "judge_calls_made": exec_stats.called,
        "judge_calls_failed": exec_stats.failed,
        "parse_failures": parse_failures,
        "flip_rate": float(ok["flipped"].mean()) if len(ok) else 0.0,
        "tie_rate": float(ok["tie"].mean()) if len(ok) else 0.0,
        "judging_seconds": round(exec_stats.seconds, 3),
        "skipped_prompts": skipped,
    }


def judging_criteria(opts: CompareOptions) -> str | None:
    """The criteria text for the judge prompt: ``criteria``, or a rubric's criteria (or a
    constitution's principles) when ``rubric`` names one; None for the default."""
    if opts.rubric is None:
        return opts.criteria
    from judgekit.protocols.pointwise import criteria_text
    from judgekit.rubrics import load_rubric

    return criteria_text(load_rubric(opts.rubric))


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
            :class:`~judgekit.human.HumanLabels`): the trust report then adds accuracy,
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
        from judgekit.adaptive import run_adaptive

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
    config = {**opts.model_dump(), "verdict_mode": mode, "judge": judge_obj.id}
    run_id = _run_id(data, judge_id=judge_obj.id, config=config)
    config["inputs"] = data.sources
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="compare", config=config, run_id=run_id)
        empty = pd.DataFrame()
        store.replace_rows(
            run_id, {**_input_tables(run_id, data), "verdicts": empty, "outcomes": empty}
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
        started = time.perf_counter()
        board = build_leaderboard(
            frame, models=data.models, ties=opts.ties, bootstrap=opts.bootstrap, seed=opts.seed
        )
        store.write_ratings(run_id=run_id, method="bt", frame=board)
        stats = _summary(frame, parse_failures, exec_stats, len(data.skipped_prompts))
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
    from judgekit.listwise_api import ListwiseOptions, compare_listwise

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
            verdict_rows = _verdict_rows(run_id, planned, verdicts, hashes)
            outcomes = outcomes_frame(_combine(planned, verdicts, disagreement=opts.disagreement))
            store.append_rows(
                {"verdicts": verdict_rows, "outcomes": outcomes.assign(run_id=run_id)}
            )
            outcome_frames.append(outcomes)
            verdict_frames.append(verdict_rows.drop(columns="run_id"))
    return (
        pd.concat(outcome_frames, ignore_index=True),
        pd.concat(verdict_frames, ignore_index=True),
        totals,
        parse_failures,
    )


def _input_tables(run_id: str, data: OutputSet) -> dict[str, pd.DataFrame]:
    items = list(data.items.values())
    return {
        "items": pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": [i.prompt_id for i in items],
                "prompt": [i.prompt for i in items],
                "reference": [i.reference for i in items],
                "category": [i.category for i in items],
            }
        ),
        "candidates": pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": [c.prompt_id for c in data.candidates],
                "model": [c.model for c in data.candidates],
                "output": [c.output for c in data.candidates],
            }
        ),
    }


def _combine(
    planned: Sequence[PlannedCall], verdicts: Sequence[Verdict], *, disagreement: str
) -> list[Outcome]:
    by_comparison: dict[Any, dict[str, Verdict]] = {}
    for call, verdict in zip(planned, verdicts, strict=True):
        by_comparison.setdefault(call.comparison, {})[call.order] = verdict
    return [
        combine_orders(
            pair["ab"],
            pair["ba"],
            prompt_id=comp.prompt_id,
            model_a=comp.model_a,
            model_b=comp.model_b,
            disagreement=disagreement,  # type: ignore[arg-type]
        )
        for comp, pair in by_comparison.items()
    ]
