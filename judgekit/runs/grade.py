"""Pointwise grading with a rubric: render -> judge (cached) -> parse -> store -> leaderboard.

``grade()`` is the library entry point behind ``judgekit grade``. Its leaderboard is the
mean score per model with bootstrap CIs (resampling prompts), per criterion and overall.
The helpers here (loading outputs answered by any number of models, the input tables and
the bootstrap of means) are shared with the checklist engine in :mod:`judgekit.runs.checklist`.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError
from judgekit.inputs.outputs import OutputSet, load_outputs
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.protocols.pointwise import (
    PlannedScore,
    ScoreMode,
    plan_feedback_scores,
    plan_score_requests,
)
from judgekit.protocols.turns import plan_turn_scores
from judgekit.quality.trust import TrustReport, emit_warnings, item_scores, pointwise_trust
from judgekit.rank.leaderboard import ci_aware_rank
from judgekit.rubrics.loader import LoadedRubric, load_rubric
from judgekit.rubrics.model import GradeOptions, Rubric
from judgekit.rubrics.parse import Parsed, ParseFailure, feedback_text, parse_score, parse_scores
from judgekit.runs.progress import make_progress
from judgekit.runs.records import OutputsArg, input_tables, output_list
from judgekit.runs.runner import ExecutionStats, execute
from judgekit.runs.turns import add_turn_columns, n_turns, per_turn_boards, turn_method, turn_rows
from judgekit.store.db import Store, open_store
from judgekit.store.trust_queries import write_trust
from judgekit.types import JudgeResponse

OVERALL = "overall"
#: Bootstrap resamples are drawn in blocks of this many to bound memory on large sets.
_BOOT_BLOCK = 200


# -- inputs --------------------------------------------------------------------------------


def load_scored_outputs(outputs: OutputsArg) -> OutputSet:
    """Load outputs for pointwise scoring: :func:`judgekit.inputs.outputs.load_outputs`'s
    validation, but no prompt is dropped for having a single answer, since a pointwise score
    needs no opponent."""
    return load_outputs(output_list(outputs), min_answers=1)


def resolve_judge(judge: str | Judge, options: JudgeOptions | None) -> Judge:
    return get_judge(judge, options=options) if isinstance(judge, str) else judge


def run_id_for(prefix: str, data: OutputSet, *, config: Mapping[str, Any]) -> str:
    """The same inputs and config give the same run id, so a re-run replaces its rows."""
    payload = json.dumps({"inputs": data.digest(), **config}, sort_keys=True, default=str)
    return f"{prefix}-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


def exec_summary(*stats: ExecutionStats) -> dict[str, Any]:
    """Judge-call counts of one or more ``execute`` stages, summed."""
    return {
        "judge_calls_planned": sum(s.planned for s in stats),
        "judge_calls_unique": sum(s.unique for s in stats),
        "judge_calls_cached": sum(s.cached for s in stats),
        "judge_calls_made": sum(s.called for s in stats),
        "judge_calls_failed": sum(s.failed for s in stats),
        "judging_seconds": round(sum(s.seconds for s in stats), 3),
    }


# -- bootstrap of means ---------------------------------------------------------------------


def mean_leaderboard(
    scores: pd.DataFrame,
    *,
    models: Sequence[str],
    weights: Mapping[str, float],
    bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean score per model and criterion, and overall, with percentile bootstrap CIs.

    Args:
        scores: one row per (prompt_id, model, criterion) with a ``score`` column; rows
            whose status is not ``ok`` (or whose score is NaN) are left out of the means.
        weights: criterion -> weight; ``overall`` is the weighted mean of a model's
            per-criterion means.
        bootstrap: resamples of the prompts (with replacement, seeded); 0 for no CIs.

    Returns:
        Long frame: criterion, rank, model, score, ci_low, ci_high, n, failures, best
        first. The rank is CI-aware (:func:`judgekit.rank.ci_aware_rank`). Every bootstrap
        resample redraws the prompts once for all criteria and models, so the overall CI
        reflects the criteria's correlation.
    """
    criteria = list(weights)
    prompts = sorted(scores["prompt_id"].unique()) if len(scores) else []
    p_index = {p: i for i, p in enumerate(prompts)}
    m_index = {m: i for i, m in enumerate(models)}
    c_index = {c: i for i, c in enumerate(criteria)}
    values = np.zeros((len(criteria), len(prompts), len(models)))
    present = np.zeros_like(values)
    failures = np.zeros((len(criteria), len(models)), dtype=np.int64)
    k = scores["criterion"].map(c_index).to_numpy(dtype=float) if len(scores) else np.array([])
    m = scores["model"].map(m_index).to_numpy(dtype=float) if len(scores) else np.array([])
    known = np.isfinite(k) & np.isfinite(m)
    if known.any():
        frame = scores[known]
        kk, mm = k[known].astype(int), m[known].astype(int)
        pp = frame["prompt_id"].map(p_index).to_numpy(dtype=int)
        value = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
        ok = (frame["status"] == "ok").to_numpy() & np.isfinite(value)
        values[kk[ok], pp[ok], mm[ok]] = value[ok]
        present[kk[ok], pp[ok], mm[ok]] = 1.0
        np.add.at(failures, (kk[~ok], mm[~ok]), 1)
    w = np.array([weights[c] for c in criteria], dtype=float)

    def stat(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # counts: (B, P) prompt multiplicities -> per-criterion means (B, K, M) and overall (B, M).
        sums = np.einsum("bp,kpm->bkm", counts, values)
        n = np.einsum("bp,kpm->bkm", counts, present)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(n > 0, sums / np.where(n > 0, n, 1), np.nan)
        defined = np.isfinite(means)
        weight = np.where(defined, w[None, :, None], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            overall = np.nansum(np.nan_to_num(means) * weight, axis=1) / weight.sum(axis=1)
        return means, overall

    point_means, point_overall = stat(np.ones((1, len(prompts))))
    low = np.full((len(criteria) + 1, len(models)), np.nan)
    high = np.full_like(low, np.nan)
    if bootstrap > 0 and prompts:
        rng = np.random.default_rng(seed)
        draws_k: list[np.ndarray] = []
        draws_o: list[np.ndarray] = []
        for start in range(0, bootstrap, _BOOT_BLOCK):
            size = min(_BOOT_BLOCK, bootstrap - start)
            counts = rng.multinomial(
                len(prompts), np.full(len(prompts), 1 / len(prompts)), size=size
            )
            means, overall = stat(counts.astype(float))
            draws_k.append(means)
            draws_o.append(overall)
        all_k = np.concatenate(draws_k)  # (B, K, M)
        all_o = np.concatenate(draws_o)[:, None, :]  # (B, 1, M)
        stacked = np.concatenate([all_k, all_o], axis=1)
        with warnings.catch_warnings():
            # A model/criterion with no usable score has an all-NaN column; its CI is NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanpercentile(stacked, [2.5, 97.5], axis=0)

    n_ok = present.sum(axis=1)  # (K, M)
    rows = []
    for k, name in enumerate([*criteria, OVERALL]):
        if name == OVERALL:
            score = point_overall[0]
            n = present.max(axis=0).sum(axis=0) if len(criteria) else np.zeros(len(models))
            fails = failures.sum(axis=0)
        else:
            score = point_means[0, k]
            n, fails = n_ok[k], failures[k]
        frame = pd.DataFrame(
            {
                "criterion": name,
                "model": list(models),
                "score": score,
                "ci_low": low[k],
                "ci_high": high[k],
                "n": n.astype(int),
                "failures": fails.astype(int),
            }
        )
        # CI-aware, as every board: models whose intervals overlap share a rank. Without
        # CIs (bootstrap 0) the means alone order the models; a model without a usable score
        # ranks last, so the rank column stays an integer.
        frame["rank"] = ci_aware_rank(frame["ci_low"], frame["ci_high"], rating=frame["score"])
        rows.append(
            frame.sort_values(
                ["rank", "score", "model"], ascending=[True, False, True], na_position="last"
            )
        )
    long = pd.concat(rows, ignore_index=True)
    return long[["criterion", "rank", "model", "score", "ci_low", "ci_high", "n", "failures"]]


def wide_leaderboard(long: pd.DataFrame, *, criteria: Sequence[str]) -> pd.DataFrame:
    """One row per model: the overall columns, then one mean column per criterion."""
    overall = long[long["criterion"] == OVERALL].drop(columns="criterion").reset_index(drop=True)
    if len(criteria) > 1:
        for name in criteria:
            per = long[long["criterion"] == name].set_index("model")["score"]
            overall[name] = overall["model"].map(per)
    return overall


def write_mean_ratings(
    store: Store, run_id: str, long: pd.DataFrame, *, prefix: str, turn: int | None = None
) -> None:
    """Store each criterion's means as ratings of method ``<prefix>:<criterion>``, with
    ``@turn<k>`` appended for one turn's means (:func:`judgekit.runs.turns.turn_method`)."""
    for name, frame in long.groupby("criterion", sort=False):
        rows = frame.rename(columns={"score": "rating"})
        rows = rows[rows["rating"].notna()]
        if rows.empty:
            continue
        store.write_ratings(
            run_id=run_id,
            method=turn_method(f"{prefix}:{name}", turn),
            frame=rows[["model", "rating", "ci_low", "ci_high", "rank", "n"]],
        )


# -- grading ------------------------------------------------------------------------------


@dataclass
class GradeResult:
    """What :func:`grade` returns.

    Attributes:
        leaderboard: one row per model: rank, model, score (overall mean), ci_low, ci_high,
            n, failures, then a mean column per criterion when there are several.
        criteria: the long form: one row per (criterion or ``overall``, model).
        scores: one row per (prompt_id, model, criterion): score, status, distribution,
            feedback, raw judge text, error and request hash.
        trust: how far the grades can be trusted (separation of the models' scores; no
            position figures, since each answer is graded alone).
    """

    run_id: str
    rubric: str
    leaderboard: pd.DataFrame
    criteria: pd.DataFrame
    scores: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    turn_leaderboards: dict[int, pd.DataFrame] = field(default_factory=dict)
    """For multi-turn outputs, one board per turn (MT-Bench's first and second turn);
    ``leaderboard`` averages every (prompt, turn) score."""
    trust: TrustReport | None = None

    def to_json(self) -> dict[str, Any]:
        payload = {
            "run_id": self.run_id,
            "rubric": self.rubric,
            "leaderboard": json.loads(self.leaderboard.to_json(orient="records")),
            "criteria": json.loads(self.criteria.to_json(orient="records")),
            "stats": self.stats,
        }
        if self.turn_leaderboards:
            payload["per_turn"] = turn_rows(self.turn_leaderboards)
        if self.trust is not None:
            payload["trust"] = self.trust.to_dict()
        return payload


def score_mode(rubric: Rubric, judge: Judge, options: GradeOptions) -> ScoreMode:
    """The request shape for this rubric, judge and options (see the pointwise protocol).

    Raises:
        ConfigError: logprobs were asked for on a scale whose labels share first tokens.
    """
    logprob_scale = rubric.scale.single_token_labels
    verdict = options.verdict
    if verdict == "auto":
        verdict = "logprobs" if judge.supports_logprobs and logprob_scale else "generate"
    if verdict == "logprobs" and not logprob_scale:
        raise ConfigError(
            f"rubric {rubric.name!r}: scale {rubric.scale.min}-{rubric.scale.max} has scores "
            "that share a first token (1 and 10), so a next-token distribution cannot tell "
            "them apart; use --verdict generate (or auto)"
        )
    if verdict == "logprobs" and options.feedback:
        return "feedback"
    return verdict  # type: ignore[return-value]


def _score_rows(
    planned: Sequence[PlannedScore],
    responses: Sequence[JudgeResponse],
    *,
    rubric: Rubric,
    judge_id: str,
) -> pd.DataFrame:
    """One row per (call, criterion): a parsed score or a failure, kept with its raw text."""
    by_id = {c.id: c for c in rubric.criteria}
    rows: list[dict[str, Any]] = []
    for call, response in zip(planned, responses, strict=True):
        criteria = [by_id[c] for c in call.criteria]
        if call.mode == "generate":
            parsed_map = parse_scores(response, criteria=criteria, scale=rubric.scale)
        else:
            parsed_map = {criteria[0].id: parse_score(response, scale=rubric.scale)}
        feedback = feedback_text(response.text) if call.mode != "logprobs" else ""
        for criterion in criteria:
            parsed = parsed_map[criterion.id]
            rows.append(
                {
                    "prompt_id": call.prompt_id,
                    "model": call.model,
                    "turn": call.turn,
                    "criterion": criterion.id,
                    "score": parsed.value if isinstance(parsed, Parsed) else np.nan,
                    "status": "ok" if isinstance(parsed, Parsed) else parsed.status,
                    "distribution": parsed.distribution if isinstance(parsed, Parsed) else None,
                    "feedback": feedback,
                    "raw": response.text,
                    "error": parsed.error if isinstance(parsed, ParseFailure) else None,
                    "request_hash": call.request.hash_for(judge_id),
                }
            )
    return pd.DataFrame(rows)


def _run_scoring(
    data: OutputSet,
    *,
    rubric: LoadedRubric,
    judge: Judge,
    store: Store,
    mode: ScoreMode,
    options: GradeOptions,
    progress: bool,
) -> tuple[pd.DataFrame, list[ExecutionStats]]:
    planned = plan_score_requests(
        data.candidates,
        items=data.items,
        rubric=rubric,
        mode=mode,
        max_tokens=options.feedback_tokens,
    )
    # Later turns of conversations are graded with the whole conversation up to them.
    planned += plan_turn_scores(
        data.candidates,
        items=data.items,
        rubric=rubric,
        mode=mode,
        max_tokens=options.feedback_tokens,
    )
    bar = make_progress(enabled=progress)
    with bar:
        label = "writing feedback" if mode == "feedback" else f"grading ({mode})"
        responses, first = execute(
            [p.request for p in planned], judge=judge, store=store, progress=bar, description=label
        )
        if mode != "feedback":
            return _score_rows(planned, responses, rubric=rubric.rubric, judge_id=judge.id), [first]
        # Second stage: read the score distribution right after each generated feedback.
        feedbacks = [feedback_text(r.text) if r.status == "ok" else "" for r in responses]
        follow = plan_feedback_scores(planned, feedbacks, scale=rubric.rubric.scale)
        usable = [i for i, r in enumerate(responses) if r.status == "ok"]
        scored, second = execute(
            [follow[i].request for i in usable],
            judge=judge,
            store=store,
            progress=bar,
            description="scoring after feedback",
        )
    # A failed feedback call has no second stage and stays a judge error.
    calls, final = list(planned), list(responses)
    for i, response in zip(usable, scored, strict=True):
        calls[i], final[i] = follow[i], response
    frame = _score_rows(calls, final, rubric=rubric.rubric, judge_id=judge.id)
    # Feedback mode has one call per criterion, so rows and feedback replies line up.
    frame["feedback"] = feedbacks
    frame["raw"] = [r.text for r in responses]
    return frame, [first, second]


def grade(
    outputs: OutputsArg,
    *,
    rubric: str | Path | Rubric | LoadedRubric,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    options: GradeOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    **overrides: Any,
) -> GradeResult:
    """Grade every output with a rubric, store the scores and rank models by mean score.

    Args:
        outputs: output files (JSONL, CSV, Parquet, AlpacaEval JSON) or DataFrames; one
            model is enough.
        rubric: a shipped rubric name (``"helpfulness"``), a rubric folder or YAML path, or
            a :class:`Rubric`.
        judge: a judge id such as ``"hf/smollm2"``, or a Judge.
        db: the DuckDB store (``":memory:"`` for a throwaway run).
        options: a :class:`GradeOptions`; keyword ``overrides`` update it
            (``grade(files, rubric="honesty", verdict="generate")``).
        judge_options: backend options such as ``base_url`` or ``batch_size``.
        progress: show a progress bar on stderr.

    Returns:
        A :class:`GradeResult`. Unparseable judge replies are kept as ``parse_error`` rows
        (with the raw text) and left out of the means; they are never re-sampled.

    Raises:
        InputError, ConfigError, MissingDependencyError, StoreError: before anything is
        written to the store.
    """
    opts = GradeOptions.model_validate({**(options or GradeOptions()).model_dump(), **overrides})
    loaded = load_rubric(rubric)
    data = load_scored_outputs(outputs)
    judge_obj = resolve_judge(judge, judge_options)
    mode = score_mode(loaded.rubric, judge_obj, opts)
    config = {
        **opts.model_dump(),
        "rubric": loaded.name,
        "rubric_hash": loaded.content_hash(),
        "mode": mode,
        "judge": judge_obj.id,
    }
    run_id = run_id_for("grd", data, config=config)
    config["inputs"] = data.sources
    criteria_ids = [c.id for c in loaded.rubric.criteria]
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="grade", config=config, run_id=run_id)
        store.replace_rows(run_id, add_turn_columns(input_tables(run_id, data), data))
        try:
            frame, stages = _run_scoring(
                data,
                rubric=loaded,
                judge=judge_obj,
                store=store,
                mode=mode,
                options=opts,
                progress=progress,
            )
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        started = time.perf_counter()
        weights = {c.id: c.weight for c in loaded.rubric.criteria}

        def rank(rows: pd.DataFrame) -> pd.DataFrame:
            return mean_leaderboard(
                _turn_units(rows),
                models=data.models,
                weights=weights,
                bootstrap=opts.bootstrap,
                seed=opts.seed,
            )

        long = rank(frame)
        store.replace_rows(run_id, {"scores": _stored_scores(run_id, frame)})
        write_mean_ratings(store, run_id, long, prefix="mean")
        turn_longs = per_turn_boards(frame, rank)
        for turn, turn_long in turn_longs.items():
            write_mean_ratings(store, run_id, turn_long, prefix="mean", turn=turn)
        stats = {
            "responses": len(data.candidates),
            "scores": int(len(frame)),
            "usable_scores": int((frame["status"] == "ok").sum()),
            "parse_failures": int((frame["status"] == "parse_error").sum()),
            "judge_errors": int((frame["status"] == "judge_error").sum()),
            "mode": mode,
            "turns": n_turns(data),
            **exec_summary(*stages),
            "ranking_seconds": round(time.perf_counter() - started, 3),
        }
        board = wide_leaderboard(long, criteria=criteria_ids)
        # Each (prompt, turn) is one graded item, as the means count them.
        trust = pointwise_trust(item_scores(_turn_units(frame), weights), board=board)
        write_trust(store, run_id=run_id, report=trust.to_dict())
        store.finish_run(run_id, stats=stats)
    emit_warnings(trust)
    return GradeResult(
        run_id=run_id,
        rubric=loaded.name,
        leaderboard=board,
        criteria=long,
        scores=frame,
        stats=stats,
        trust=trust,
        turn_leaderboards={
            turn: wide_leaderboard(turn_long, criteria=criteria_ids)
            for turn, turn_long in turn_longs.items()
        },
    )


def _turn_units(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores keyed by (prompt, turn) when they hold several turns of one prompt.

    The mean over all turns is then MT-Bench's average over every (question, turn) grade,
    and the bootstrap resamples those units.
    """
    if "turn" not in scores or scores["turn"].nunique() < 2:
        return scores
    unit = scores["prompt_id"].astype(str) + "@turn" + scores["turn"].astype(str)
    return scores.assign(prompt_id=unit)


def _stored_scores(run_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "prompt_id": frame["prompt_id"],
            "model": frame["model"],
            "turn": frame["turn"].astype(int),
            "criterion": frame["criterion"],
            "score": frame["score"].astype(float),
            "distribution": [None if d is None else json.dumps(d) for d in frame["distribution"]],
            "status": frame["status"],
            "raw": frame["raw"],
            "error": frame["error"],
            "request_hash": frame["request_hash"],
        }
    )
