"""TICK and STICK: checklist evaluation, Best-of-N selection and self-refinement feedback.

``checklist()`` (behind ``judgekit checklist``) has the judge write one YES/NO checklist per
instruction (or takes user-written ones), answers every (response, question) pair, and scores
each response by its pass rate. Scores per response:

- ``pass_rate``: the expected share of YES answers, the mean of P(YES) over the answered
  questions (P(YES) is 0 or 1 when the judge generates text instead of giving logprobs);
- ``weighted_pass_rate``: the same with the questions' weights;
- ``hard_pass_rate``: the share of questions with P(YES) >= 0.5.

Questions whose answer failed to parse are left out of a response's rates and counted.
The leaderboard is the mean pass rate per model with bootstrap CIs over prompts; pairwise
outcomes (the higher pass rate wins, equal rates tie) feed Bradley-Terry. Best-of-N and
self-refinement (STICK) build on these functions in :mod:`judgekit.runs.stick`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from judgekit.errors import InputError
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.protocols.checklist import (
    AnswerMode,
    checklist_reply,
    plan_answers,
    plan_generation,
)
from judgekit.quality.trust import TrustReport, emit_warnings, pointwise_trust
from judgekit.rubrics.loader import load_checklists
from judgekit.rubrics.model import Checklist, ChecklistOptions, ChecklistQuestion
from judgekit.rubrics.parse import Parsed, ParseFailure, parse_checklist, parse_yes_no
from judgekit.runs.grade import (
    OVERALL,
    exec_summary,
    load_scored_outputs,
    mean_leaderboard,
    resolve_judge,
    run_id_for,
    write_mean_ratings,
)
from judgekit.runs.progress import make_progress
from judgekit.runs.records import OutputsArg, input_tables
from judgekit.runs.runner import ExecutionStats, execute
from judgekit.runs.turns import refuse_multi_turn
from judgekit.store.db import Store, open_store
from judgekit.store.trust_queries import write_trust
from judgekit.types import Candidate, Item, Outcome

ChecklistsArg = str | Path | Mapping[str, Checklist] | Sequence[Checklist]
RATE_COLUMNS = ("pass_rate", "weighted_pass_rate")


# -- checklists: given or generated ---------------------------------------------------------


def _given_checklists(
    checklists: ChecklistsArg, *, items: Mapping[str, Item]
) -> dict[str, Checklist]:
    if isinstance(checklists, (str, Path)):
        found = load_checklists(checklists, items=items)
        where = str(checklists)
    elif isinstance(checklists, Mapping):
        found, where = dict(checklists), "the checklists given"
    else:
        found, where = {c.prompt_id: c for c in checklists}, "the checklists given"
    missing = sorted(set(items) - set(found))
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise InputError(
            f"no checklist for {len(missing)} prompt(s): {shown}; add them, or leave out "
            "the checklists to have the judge write them",
            path=where,
        )
    return {pid: found[pid] for pid in items}


def generate_checklists(
    items: Sequence[Item],
    *,
    judge: Judge,
    store: Store,
    options: ChecklistOptions,
    progress: Any = None,
) -> tuple[dict[str, Checklist], dict[str, ParseFailure], ExecutionStats]:
    """Have ``judge`` write a checklist per item (cached by request hash like any call).

    Returns the checklists, the items whose reply held no question (as failures, with the raw
    text), and the call counts.
    """
    planned = plan_generation(
        items, max_questions=options.max_questions, max_tokens=options.generate_tokens
    )
    responses, stats = execute(
        [p.request for p in planned],
        judge=judge,
        store=store,
        progress=progress,
        description="writing checklists",
    )
    found: dict[str, Checklist] = {}
    failed: dict[str, ParseFailure] = {}
    for call, response in zip(planned, responses, strict=True):
        if response.status != "ok":
            failed[call.prompt_id] = ParseFailure(
                raw=response.text, error=response.error or "judge error", status="judge_error"
            )
            continue
        text = checklist_reply(call.request, response.text)
        parsed = parse_checklist(text, max_questions=options.max_questions)
        if isinstance(parsed, ParseFailure):
            failed[call.prompt_id] = parsed
            continue
        found[call.prompt_id] = Checklist.of(
            call.prompt_id,
            parsed.value,
            source="generated",
            generator=judge.id,
            request_hash=call.request.hash_for(judge.id),
        )
    return found, failed, stats


# -- answering ------------------------------------------------------------------------------


def answer_checklists(
    candidates: Sequence[Candidate],
    *,
    items: Mapping[str, Item],
    checklists: Mapping[str, Checklist],
    judge: Judge,
    store: Store,
    mode: AnswerMode,
    progress: Any = None,
) -> tuple[pd.DataFrame, ExecutionStats]:
    """Answer every (candidate, question) pair; one row per pair, failures included."""
    planned = plan_answers(candidates, items=items, checklists=checklists, mode=mode)
    responses, stats = execute(
        [p.request for p in planned],
        judge=judge,
        store=store,
        progress=progress,
        description="answering checklists",
    )
    rows = []
    for call, response in zip(planned, responses, strict=True):
        question = checklists[call.prompt_id].questions[call.question_index]
        parsed = parse_yes_no(response)
        p_yes = parsed.value if isinstance(parsed, Parsed) else np.nan
        rows.append(
            {
                "prompt_id": call.prompt_id,
                "model": call.model,
                "question_index": call.question_index,
                "question": question.question,
                "weight": question.weight,
                "p_yes": p_yes,
                "answer": None if np.isnan(p_yes) else ("YES" if p_yes >= 0.5 else "NO"),
                "status": "ok" if isinstance(parsed, Parsed) else parsed.status,
                "raw": response.text,
                "error": parsed.error if isinstance(parsed, ParseFailure) else None,
                "request_hash": call.request.hash_for(judge.id),
            }
        )
    columns = ["prompt_id", "model", "question_index", "question", "weight", "p_yes", "answer"]
    columns += ["status", "raw", "error", "request_hash"]
    return pd.DataFrame(rows, columns=columns), stats


def response_scores(
    answers: pd.DataFrame,
    candidates: Sequence[Candidate],
    *,
    failed_checklists: Mapping[str, ParseFailure] | None = None,
) -> pd.DataFrame:
    """Pass rates per response from its answers.

    A response with no usable answer gets NaN rates and the status of its failure
    (``parse_error`` when its checklist could not be written or no answer parsed).
    """
    failed_checklists = failed_checklists or {}
    ok = answers[answers["status"] == "ok"]
    weighted = ok.assign(wp=ok["p_yes"] * ok["weight"], hard=(ok["p_yes"] >= 0.5).astype(float))
    grouped = weighted.groupby(["prompt_id", "model"])
    agg = pd.DataFrame(
        {
            "pass_rate": grouped["p_yes"].mean(),
            "weighted_pass_rate": grouped["wp"].sum() / grouped["weight"].sum(),
            "hard_pass_rate": grouped["hard"].mean(),
            "n_answered": grouped.size(),
        }
    )
    totals = answers.groupby(["prompt_id", "model"]).size()
    judge_errors = (
        answers[answers["status"] == "judge_error"].groupby(["prompt_id", "model"]).size()
    )
    rows = []
    for cand in candidates:
        key = (cand.prompt_id, cand.model)
        n_questions = int(totals.get(key, 0))
        row: dict[str, Any] = {"prompt_id": cand.prompt_id, "model": cand.model}
        if key in agg.index:
            row.update(agg.loc[key].to_dict())
            row.update(status="ok", error=None)
        else:
            failure = failed_checklists.get(cand.prompt_id)
            if failure is not None:
                status, error = failure.status, f"checklist: {failure.error}"
            elif n_questions and judge_errors.get(key, 0) == n_questions:
                status, error = "judge_error", "every answer failed"
            else:
                status, error = "parse_error", "no answer could be parsed"
            row.update(
                pass_rate=np.nan,
                weighted_pass_rate=np.nan,
                hard_pass_rate=np.nan,
                n_answered=0,
                status=status,
                error=error,
            )
        row["n_questions"] = n_questions
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["n_answered"] = frame["n_answered"].astype(int)
    order = ["prompt_id", "model", *RATE_COLUMNS, "hard_pass_rate", "n_questions", "n_answered"]
    return frame[[*order, "status", "error"]]


def pass_rate_outcomes(
    scores: pd.DataFrame, *, column: str = "pass_rate", tie_margin: float = 0.0
) -> list[Outcome]:
    """Pairwise outcomes from checklist scores, for Bradley-Terry.

    On each prompt, every pair of models with a usable score is one comparison: the higher
    ``column`` wins; rates within ``tie_margin`` of each other (or equal) are a tie.
    """
    outcomes = []
    usable = scores[(scores["status"] == "ok") & scores[column].notna()]
    for prompt_id, group in usable.groupby("prompt_id", sort=True):
        rates = dict(zip(group["model"], group[column], strict=True))
        for model_a, model_b in itertools.combinations(sorted(rates), 2):
            diff = float(rates[model_a]) - float(rates[model_b])
            if abs(diff) <= tie_margin or np.isclose(diff, 0.0, atol=1e-12):
                win_a, win_b, tie = 0.0, 0.0, 1.0
            else:
                win_a, win_b, tie = (1.0, 0.0, 0.0) if diff > 0 else (0.0, 1.0, 0.0)
            outcomes.append(
                Outcome(str(prompt_id), model_a, model_b, win_a, win_b, tie, flipped=False)
            )
    return outcomes


# -- the run --------------------------------------------------------------------------------


@dataclass
class ChecklistResult:
    """What :func:`checklist` returns.

    Attributes:
        leaderboard: one row per model: rank, model, score (mean pass rate), ci_low,
            ci_high, n, failures, weighted_pass_rate (mean).
        scores: one row per response: the pass rates, question counts and status.
        answers: one row per (response, question): P(YES), answer, status and raw text.
        checklists: one row per (prompt, question): text, weight, source, generator.
        outcomes: pairwise outcomes derived from the pass rates.
        bt_leaderboard: Bradley-Terry ratings fitted to ``outcomes`` (None with one model).
        trust: how far the pass rates can be trusted (separation of the models' per-response
            pass rates; each answer is checked alone, so no position figures).
    """

    run_id: str
    leaderboard: pd.DataFrame
    scores: pd.DataFrame
    answers: pd.DataFrame
    checklists: pd.DataFrame
    outcomes: pd.DataFrame
    bt_leaderboard: pd.DataFrame | None
    stats: dict[str, Any] = field(default_factory=dict)
    trust: TrustReport | None = None

    def checklist_objects(self) -> list[Checklist]:
        """The checklists as :class:`Checklist` objects, e.g. for ``dump_checklists``."""
        return checklists_from_frame(self.checklists)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "run_id": self.run_id,
            "leaderboard": json.loads(self.leaderboard.to_json(orient="records")),
            "stats": self.stats,
        }
        if self.bt_leaderboard is not None:
            payload["bt_leaderboard"] = json.loads(self.bt_leaderboard.to_json(orient="records"))
        if self.trust is not None:
            payload["trust"] = self.trust.to_dict()
        return payload


def checklist_frame(checklists: Mapping[str, Checklist]) -> pd.DataFrame:
    """One row per (prompt, question)."""
    rows = [
        {
            "prompt_id": c.prompt_id,
            "question_index": index,
            "question": q.question,
            "weight": q.weight,
            "source": c.source,
            "generator": c.generator,
            "request_hash": c.request_hash,
        }
        for c in checklists.values()
        for index, q in enumerate(c.questions)
    ]
    columns = ["prompt_id", "question_index", "question", "weight", "source", "generator"]
    return pd.DataFrame(rows, columns=[*columns, "request_hash"])


def checklists_from_frame(frame: pd.DataFrame) -> list[Checklist]:
    """Rebuild :class:`Checklist` objects from :func:`checklist_frame` rows (or the store)."""
    out = []
    for prompt_id, group in frame.sort_values(["prompt_id", "question_index"]).groupby(
        "prompt_id", sort=True
    ):
        first = group.iloc[0]
        out.append(
            Checklist(
                prompt_id=str(prompt_id),
                questions=tuple(
                    ChecklistQuestion(question=q, weight=float(w))
                    for q, w in zip(group["question"], group["weight"], strict=True)
                ),
                source=first["source"],
                generator=first["generator"] if isinstance(first["generator"], str) else None,
                request_hash=first["request_hash"]
                if isinstance(first["request_hash"], str)
                else None,
            )
        )
    return out


def answer_mode(judge: Judge, options: ChecklistOptions) -> AnswerMode:
    """Logprobs when asked for, or on ``auto`` when the judge gives them; else generation."""
    if options.verdict == "auto":
        return "logprobs" if judge.supports_logprobs else "generate"
    return options.verdict


def _bt_board(
    outcomes: list[Outcome], *, models: Sequence[str], options: ChecklistOptions
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    # Imported here: the ranking engine is only needed once there is something to rank.
    from judgekit.rank.outcomes import build_leaderboard, outcomes_frame

    frame = outcomes_frame(outcomes)
    if len(models) < 2 or frame.empty:
        return frame, None
    board = build_leaderboard(frame, models=models, bootstrap=options.bootstrap, seed=options.seed)
    return frame, board


def checklist(
    outputs: OutputsArg,
    *,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    checklists: ChecklistsArg | None = None,
    generator: str | Judge | None = None,
    options: ChecklistOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    **overrides: Any,
) -> ChecklistResult:
    """Evaluate outputs with TICK checklists and rank models by pass rate.

    Args:
        outputs: output files or DataFrames (one model is enough for scores; two or more
            give pairwise outcomes and Bradley-Terry ratings).
        judge: the judge that answers the questions (a judge id or a Judge).
        db: the DuckDB store; checklists, answers, scores, outcomes and ratings go there.
        checklists: user-written checklists (a JSONL path, or Checklist objects) to use
            instead of generated ones; every prompt needs one.
        generator: the judge that writes checklists (default: ``judge``).
        options: a :class:`ChecklistOptions`; keyword ``overrides`` update it.
        judge_options: backend options for judges given by id.
        progress: show progress bars on stderr.

    Raises:
        InputError, ConfigError, MissingDependencyError, StoreError: before anything is
        written to the store.
    """
    opts = ChecklistOptions.model_validate(
        {**(options or ChecklistOptions()).model_dump(), **overrides}
    )
    data = load_scored_outputs(outputs)
    refuse_multi_turn(data, feature="`judgekit checklist`")
    given = _given_checklists(checklists, items=data.items) if checklists is not None else None
    judge_obj = resolve_judge(judge, judge_options)
    writer = judge_obj if generator is None else resolve_judge(generator, judge_options)
    mode = answer_mode(judge_obj, opts)
    config = {
        **opts.model_dump(),
        "mode": mode,
        "judge": judge_obj.id,
        "generator": None if given is not None else writer.id,
        "checklists": None
        if given is None
        else checklist_frame(given).drop(columns="request_hash").to_dict(orient="list"),
    }
    run_id = run_id_for("chk", data, config=config)
    config["inputs"] = data.sources
    config["checklists"] = str(checklists) if isinstance(checklists, (str, Path)) else None
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="checklist", config=config, run_id=run_id)
        store.replace_rows(run_id, input_tables(run_id, data))
        stages: list[ExecutionStats] = []
        failed: dict[str, ParseFailure] = {}
        bar = make_progress(enabled=progress)
        try:
            with bar:
                if given is None:
                    found, failed, gen_stats = generate_checklists(
                        list(data.items.values()),
                        judge=writer,
                        store=store,
                        options=opts,
                        progress=bar,
                    )
                    stages.append(gen_stats)
                else:
                    found = given
                answers, answer_stats = answer_checklists(
                    data.candidates,
                    items=data.items,
                    checklists=found,
                    judge=judge_obj,
                    store=store,
                    mode=mode,
                    progress=bar,
                )
                stages.append(answer_stats)
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        started = time.perf_counter()
        scores = response_scores(answers, data.candidates, failed_checklists=failed)
        long = mean_leaderboard(
            _long_scores(scores),
            models=data.models,
            weights=dict.fromkeys(RATE_COLUMNS, 1.0),
            bootstrap=opts.bootstrap,
            seed=opts.seed,
        )
        long = long[long["criterion"] != OVERALL].reset_index(drop=True)
        outcomes = pass_rate_outcomes(scores, tie_margin=opts.tie_margin)
        outcome_frame, bt = _bt_board(outcomes, models=data.models, options=opts)
        checklist_rows = checklist_frame(found)
        store.replace_rows(
            run_id,
            {
                "checklists": checklist_rows.assign(run_id=run_id),
                "checklist_answers": answers.drop(columns=["question", "weight"]).assign(
                    run_id=run_id
                ),
                "scores": _stored_rate_scores(run_id, scores, failed),
                "outcomes": outcome_frame.assign(run_id=run_id),
            },
        )
        write_mean_ratings(store, run_id, long, prefix="checklist")
        if bt is not None:
            store.write_ratings(run_id=run_id, method="bt", frame=bt)
        stats = {
            "prompts": len(data.items),
            "responses": len(data.candidates),
            "checklists_generated": int(given is None) * len(found),
            "checklists_user": 0 if given is None else len(found),
            "checklist_failures": len(failed),
            "questions": int(len(checklist_rows)),
            "mean_questions": round(len(checklist_rows) / max(1, len(found)), 2),
            "answers": int(len(answers)),
            "answer_parse_failures": int((answers["status"] == "parse_error").sum()),
            "answer_judge_errors": int((answers["status"] == "judge_error").sum()),
            "unscored_responses": int((scores["status"] != "ok").sum()),
            "comparisons": len(outcomes),
            "tie_rate": round(float(np.mean([o.tie for o in outcomes])), 4) if outcomes else 0.0,
            "mode": mode,
            **exec_summary(*stages),
            "ranking_seconds": round(time.perf_counter() - started, 3),
        }
        board = _rate_leaderboard(long)
        rates = scores[["prompt_id", "model", "pass_rate", "status"]]
        trust = pointwise_trust(
            rates[rates["status"] == "ok"].rename(columns={"pass_rate": "score"}), board=board
        )
        write_trust(store, run_id=run_id, report=trust.to_dict())
        store.finish_run(run_id, stats=stats)
    emit_warnings(trust)
    return ChecklistResult(
        run_id=run_id,
        leaderboard=board,
        scores=scores,
        answers=answers,
        checklists=checklist_rows,
        outcomes=outcome_frame,
        bt_leaderboard=bt,
        stats=stats,
        trust=trust,
    )


def _long_scores(scores: pd.DataFrame) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "prompt_id": scores["prompt_id"],
                "model": scores["model"],
                "criterion": column,
                "score": scores[column],
                "status": scores["status"],
            }
        )
        for column in RATE_COLUMNS
    ]
    return pd.concat(parts, ignore_index=True)


def _rate_leaderboard(long: pd.DataFrame) -> pd.DataFrame:
    board = long[long["criterion"] == "pass_rate"].drop(columns="criterion").reset_index(drop=True)
    weighted = long[long["criterion"] == "weighted_pass_rate"].set_index("model")["score"]
    board["weighted_pass_rate"] = board["model"].map(weighted)
    return board


def _stored_rate_scores(
    run_id: str, scores: pd.DataFrame, failed: Mapping[str, ParseFailure]
) -> pd.DataFrame:
    parts = []
    for column in RATE_COLUMNS:
        parts.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "prompt_id": scores["prompt_id"],
                    "model": scores["model"],
                    "criterion": column,
                    "score": scores[column].astype(float),
                    "distribution": None,
                    "status": scores["status"],
                    # A failed checklist keeps the judge's text, so the failure can be audited.
                    "raw": [failed[p].raw if p in failed else None for p in scores["prompt_id"]],
                    "error": scores["error"],
                    "request_hash": None,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
