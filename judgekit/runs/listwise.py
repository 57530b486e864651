"""Library entry points for listwise judging: compare by K-wise lists, run a K-wise arena,
and rank Best-of-N responses by sorting. Each stores what it judged and returns DataFrames.

- :func:`compare_listwise`: ``judgekit compare --protocol listwise --k K``. Every prompt's
  models are ranked in lists of K, each list in several orders; rankings are un-permuted
  and aggregated by Plackett-Luce (:func:`judgekit.rank.plackett_luce`).
- the K-wise arena (``judgekit arena run``) reuses these helpers: :mod:`judgekit.runs.arena`.
- :func:`rank_best_of_n`: one prompt, N responses, a batched and cached merge sort with the
  pairwise judge (:mod:`judgekit.runs.sorting`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from judgekit.errors import ConfigError, JudgeError
from judgekit.inputs.human import HumanLabels
from judgekit.inputs.outputs import OutputSet
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.protocols.listwise import (
    LOGPROB_PREFIX,
    CandidateList,
    ListwiseCall,
    ListwiseSpec,
    Scheme,
    check_k,
    combine_permutations,
    load_listwise_template,
    orders_per_list,
    plan_lists,
    plan_listwise_requests,
    unpermute,
)
from judgekit.protocols.listwise_parse import parse_listwise
from judgekit.quality.trust import emit_warnings, listwise_trust, with_labels
from judgekit.rank import RankingData, plackett_luce, ratings_frame
from judgekit.rank.outcomes import LEADERBOARD_COLUMNS, build_leaderboard, outcomes_frame, win_stats
from judgekit.runs.failures import no_usable_verdicts
from judgekit.runs.progress import make_progress
from judgekit.runs.records import (
    CompareResult,
    OutputsArg,
    input_tables,
    label_trust,
    load_comparable,
    resolve_human,
    store_trust,
)
from judgekit.runs.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.runs.sorting import BestOfNResult, rank_best_of_n
from judgekit.runs.turns import refuse_multi_turn
from judgekit.store.db import Store, open_store
from judgekit.types import Candidate, Outcome

__all__ = [
    "BestOfNResult",
    "ListwiseOptions",
    "compare_listwise",
    "rank_best_of_n",
]


CHUNK_LISTS = 256
VerdictChoice = Literal["auto", "logprobs", "generate"]


def verdict_mode(verdict: str, judge: Judge) -> Literal["logprobs", "generate"]:
    if verdict == "auto":
        return "logprobs" if judge.supports_logprobs else "generate"
    return verdict  # type: ignore[return-value]


def json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def listwise_board(
    ratings: Any, outcomes: pd.DataFrame, *, extra: pd.DataFrame | None = None
) -> pd.DataFrame:
    """A leaderboard frame from Ratings plus win rate and n from (implied) pairwise outcomes."""
    board = ratings_frame(ratings)
    stats = win_stats(outcomes) if len(outcomes) else pd.DataFrame(columns=["model"])
    board = board.merge(stats, on="model", how="left")
    board["win_rate"] = board.get("win_rate", pd.Series(dtype=float)).fillna(0.0)
    board["n"] = board.get("n", pd.Series(dtype=float)).fillna(0).astype(int)
    if extra is not None:
        board = board.merge(extra, on="model", how="left")
    rest = [c for c in board.columns if c not in LEADERBOARD_COLUMNS]
    return board[LEADERBOARD_COLUMNS + rest].reset_index(drop=True)


def ranking_outcomes(prompt_id: str, ranking: Sequence[str]) -> list[Outcome]:
    """Hard pairwise outcomes implied by one ranking (best first), in canonical pair order."""
    out = []
    for x, y in itertools.combinations(range(len(ranking)), 2):
        a, b = sorted((ranking[x], ranking[y]))
        a_first = ranking[x] == a
        out.append(Outcome(prompt_id, a, b, float(a_first), float(not a_first), 0.0, False))
    return out


# -- compare --protocol listwise ---------------------------------------------------------------


class ListwiseOptions(BaseModel):
    """How :func:`compare_listwise` judges and ranks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int | None = Field(default=None, ge=2, le=20)
    """Models per list (default 4, or the number of models when fewer); prompts with more
    models are split into overlapping blocks. A ``k`` larger than the number of models is
    an error: it would silently judge smaller lists than asked for."""
    permutations: int | None = Field(default=None, ge=1)
    """Orders per list (judge calls); default K, which with cyclic shifts shows every
    candidate in every slot once."""
    scheme: Scheme = "cyclic"
    """``cyclic`` shifts or seeded ``random`` permutations."""
    seed: int = 0
    """Seed of random permutations, block splits and the bootstrap."""
    verdict: VerdictChoice = "auto"
    """``logprobs``, ``generate`` or ``auto`` (logprobs when the judge has them)."""
    criteria: str | None = None
    """Judging criteria in the listwise prompt."""
    template: str = "listwise"
    """Listwise prompt template (rubrics/templates/NAME.md) or path."""
    bootstrap: int = Field(default=200, ge=0)
    """Bootstrap rounds over rankings for the Plackett-Luce CIs (0 = none)."""


DEFAULT_K = 4


def _list_size(k: int | None, models: Sequence[str]) -> int:
    if k is None:
        return min(DEFAULT_K, len(models))
    if k > len(models):
        raise ConfigError(
            f"k (--k) = {k} is larger than the number of models ({len(models)}: "
            f"{', '.join(models)}); use --k {len(models)} or fewer"
        )
    return k


def _listwise_rows(
    run_id: str, calls: Sequence[ListwiseCall], verdicts: Sequence[Any], hashes: Sequence[str]
) -> tuple[pd.DataFrame, list[list[str] | None]]:
    """Stored rows of a chunk of listwise calls, and each call's un-permuted ranking (model
    names, best first; None when the call failed)."""
    rows = []
    rankings: list[list[str] | None] = []
    for call, verdict, h in zip(calls, verdicts, hashes, strict=True):
        cl = call.candidates
        ranking = probs = None
        if verdict.status == "ok":
            canon, by_candidate = unpermute(verdict, call.order)
            ranking = [cl.models[i] for i in canon]
            if by_candidate is not None:
                probs = dict(zip(cl.models, by_candidate, strict=True))
        rows.append(
            {
                "run_id": run_id,
                "prompt_id": cl.prompt_id,
                "list_index": cl.list_index,
                "permutation_index": call.permutation_index,
                "shown": json.dumps(list(call.shown)),
                "request_hash": h,
                "status": verdict.status,
                "ranking": json_or_none(ranking),
                "first_probs": json_or_none(probs),
                "discrete": verdict.discrete,
                "raw": verdict.raw,
                "error": verdict.error,
            }
        )
        rankings.append(ranking)
    return pd.DataFrame(rows), rankings


def compare_listwise(
    outputs: OutputsArg,
    *,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    options: ListwiseOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    human: str | Path | HumanLabels | None = None,
    **overrides: Any,
) -> CompareResult:
    """Rank models by K-wise listwise judging, debiased by permutation, aggregated by PL.

    Args:
        outputs: output files or DataFrames, as for :func:`judgekit.compare`.
        judge: a judge id or a Judge.
        db: the DuckDB store (``":memory:"`` for a throwaway run).
        options: a :class:`ListwiseOptions`; keyword ``overrides`` update it
            (``compare_listwise(files, k=3, permutations=2)``).
        judge_options: backend options.
        progress: show a progress bar on stderr.
        human: human pairwise labels, checked against the implied pairwise outcomes.

    Returns:
        A :class:`~judgekit.runs.records.CompareResult`: the Plackett-Luce ``leaderboard``
        (also stored as method ``pl``; Bradley-Terry on the implied pairwise outcomes is
        stored as ``bt``), the implied pairwise ``outcomes``, the per-call listwise
        ``verdicts`` and the ``trust`` report.
    """
    opts = (options or ListwiseOptions()).model_copy(update=overrides)
    opts = ListwiseOptions.model_validate(opts.model_dump())
    labels = resolve_human(human)
    data = load_comparable(outputs)
    refuse_multi_turn(data, feature="--protocol listwise")
    k = _list_size(opts.k, data.models)
    by_prompt = data.by_prompt()
    lists = plan_lists({p: list(c) for p, c in by_prompt.items()}, k=k, seed=opts.seed)
    judge_obj = get_judge(judge, options=judge_options) if isinstance(judge, str) else judge
    mode = verdict_mode(opts.verdict, judge_obj)
    check_k(max(len(cl.models) for cl in lists), mode=mode)
    spec = ListwiseSpec(
        mode=mode, criteria=opts.criteria or ListwiseSpec().criteria, template=opts.template
    )
    load_listwise_template(spec.template)  # a bad template fails here, before the store
    n_perm = opts.permutations or k
    config = {
        **opts.model_dump(),
        "k": k,
        "protocol": "listwise",
        "permutations": n_perm,
        "verdict_mode": mode,
        "judge": judge_obj.id,
    }
    # The same inputs, judge and options give the same run id: a re-run replaces its rows.
    payload = json.dumps({"inputs": data.digest(), **config}, sort_keys=True)
    run_id = "lw-" + hashlib.sha256(payload.encode()).hexdigest()[:10]
    config["inputs"] = data.sources
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="compare", config=config, run_id=run_id)
        empty = pd.DataFrame()
        store.replace_rows(
            run_id, {**input_tables(run_id, data), "listwise_verdicts": empty, "outcomes": empty}
        )
        try:
            frames, totals, rankings = _judge_lists(
                lists,
                data=data,
                by_prompt=by_prompt,
                spec=spec,
                judge=judge_obj,
                store=store,
                run_id=run_id,
                opts=opts,
                n_perm=n_perm,
                progress=progress,
            )
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        outcomes, verdicts = frames
        if not rankings:
            store.finish_run(run_id, status="failed")
            if (verdicts["status"] == "judge_error").any():
                # Why the calls failed, grouped by cause; a re-run retries them.
                raise JudgeError(no_usable_verdicts(verdicts, judge=judge_obj))
            raise ConfigError(
                "no usable ranking: every listwise call failed to parse or errored "
                f"(see listwise_verdicts of run {run_id})"
            )
        started = time.perf_counter()
        ranking_data = RankingData.from_lists(rankings, models=data.models)
        board = listwise_board(
            plackett_luce(ranking_data, bootstrap=opts.bootstrap, seed=opts.seed), outcomes
        )
        store.write_ratings(run_id=run_id, method="pl", frame=board)
        bt = build_leaderboard(outcomes, models=data.models, bootstrap=0, seed=opts.seed)
        store.write_ratings(run_id=run_id, method="bt", frame=bt)
        ok = verdicts[verdicts["status"] == "ok"]
        # Position-bias diagnostic: how often slot [1] came out first (1/K if unbiased).
        shown_first = [s[0] == r[0] for s, r in zip(ok["shown"], ok["ranking"], strict=True)]
        usable = outcomes[outcomes["status"] == "ok"]
        stats = {
            "lists": len(lists),
            "rankings": len(rankings),
            "comparisons": int(len(outcomes)),
            "usable_comparisons": int(len(usable)),
            "judge_calls_planned": totals.planned,
            "judge_calls_made": totals.called,
            "judge_calls_cached": totals.cached,
            "judge_calls_failed": totals.failed,
            "parse_failures": int((verdicts["status"] == "parse_error").sum()),
            "flip_rate": float(usable["flipped"].mean()) if len(usable) else 0.0,
            "first_slot_rate": sum(shown_first) / len(shown_first) if shown_first else 0.0,
            "judging_seconds": round(totals.seconds, 3),
            "ranking_seconds": round(time.perf_counter() - started, 3),
            "skipped_prompts": len(data.skipped_prompts),
        }
        trust = listwise_trust(outcomes, verdicts, models=data.models, board=board)
        if labels is not None:
            trust = with_labels(trust, label_trust(outcomes, data, labels, seed=opts.seed))
        store_trust(store, run_id, trust, labels)
        store.finish_run(run_id, stats=stats)
    emit_warnings(trust)
    return CompareResult(
        run_id=run_id,
        leaderboard=board,
        outcomes=outcomes,
        verdicts=verdicts,
        stats=stats,
        trust=trust,
    )


def _judge_lists(
    lists: Sequence[CandidateList],
    *,
    data: OutputSet,
    by_prompt: Mapping[str, Mapping[str, Candidate]],
    spec: ListwiseSpec,
    judge: Judge,
    store: Store,
    run_id: str,
    opts: ListwiseOptions,
    n_perm: int,
    progress: bool,
) -> tuple[tuple[pd.DataFrame, pd.DataFrame], ExecutionStats, list[list[str]]]:
    """Render, judge, parse and un-permute a chunk of lists at a time; store per chunk.

    A chunk holds whole prompts: the overlapping blocks of one prompt share pairs, whose
    implied outcomes are pooled into one row per (prompt, pair).
    """
    outcome_frames, verdict_frames = [], []
    rankings: list[list[str]] = []
    totals = EMPTY_STATS
    prefix = LOGPROB_PREFIX if spec.mode == "logprobs" else ""
    groups: dict[str, list[CandidateList]] = {}
    for cl in lists:
        groups.setdefault(cl.prompt_id, []).append(cl)
    chunks: list[list[CandidateList]] = [[]]
    for group in groups.values():
        if chunks[-1] and len(chunks[-1]) + len(group) > CHUNK_LISTS:
            chunks.append([])
        chunks[-1].extend(group)
    total = sum(orders_per_list(len(cl.models), n_perm, scheme=opts.scheme) for cl in lists)
    bar = make_progress(enabled=progress)
    with bar:
        task = bar.add_task(f"judging {len(lists)} lists", total=total)
        for chunk in chunks:
            calls = plan_listwise_requests(
                chunk,
                items=data.items,
                candidates=by_prompt,
                spec=spec,
                permutations_per_list=n_perm,
                scheme=opts.scheme,
                seed=opts.seed,
            )
            requests = [c.request for c in calls]
            responses, stats = execute(requests, judge=judge, store=store, progress=bar, task=task)
            totals = totals + stats
            verdicts = [
                parse_listwise(r, k=len(c.candidates.models), prefix=prefix)
                for c, r in zip(calls, responses, strict=True)
            ]
            hashes = [r.hash_for(judge.id) for r in requests]
            rows, usable = _listwise_rows(run_id, calls, verdicts, hashes)
            rankings.extend(r for r in usable if r is not None)
            per_prompt: dict[str, list[list[str]]] = {}
            for call, ranking in zip(calls, usable, strict=True):
                if ranking is not None:
                    per_prompt.setdefault(call.candidates.prompt_id, []).append(ranking)
            implied = [
                outcome
                for pid in dict.fromkeys(cl.prompt_id for cl in chunk)
                for outcome in combine_permutations(
                    pid, [cl.models for cl in groups[pid]], per_prompt.get(pid, [])
                )
            ]
            outcomes = outcomes_frame(implied)
            store.append_rows(
                {"listwise_verdicts": rows, "outcomes": outcomes.assign(run_id=run_id)}
            )
            outcome_frames.append(outcomes)
            verdict_frames.append(rows.drop(columns="run_id"))
    verdicts_frame = pd.concat(verdict_frames, ignore_index=True)
    for column in ("shown", "ranking", "first_probs"):
        verdicts_frame[column] = verdicts_frame[column].map(
            lambda v: json.loads(v) if isinstance(v, str) else None
        )
    return (pd.concat(outcome_frames, ignore_index=True), verdicts_frame), totals, rankings
