"""``judgekit arena run``: the K-wise arena loop, its stored rounds and its leaderboards.

The pieces (config, matchmaking, state replay) live in :mod:`judgekit.plan.arena`; this module
checks a loaded arena against its inputs before anything touches the store, then plays
rounds in batches, one transaction per batch, until the budget or until every σ is small.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import ConfigError, InputError, StoreError
from judgekit.inputs.outputs import OutputSet, load_outputs
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.plan.arena import (
    ArenaConfig,
    ArenaState,
    PlannedRound,
    describe_state,
    load_arena,
    plan_rounds,
    restrict_to_prompt_set,
    run_id_for,
)
from judgekit.protocols.listwise import (
    LOGPROB_PREFIX,
    ListwiseSpec,
    check_k,
    load_listwise_template,
    render_listwise,
    unpermute,
)
from judgekit.protocols.listwise_parse import parse_listwise
from judgekit.quality.trust import TrustReport, emit_warnings, listwise_trust
from judgekit.rank import RankingData, openskill_ratings, plackett_luce
from judgekit.rank.outcomes import build_leaderboard, outcomes_frame
from judgekit.runs.listwise import json_or_none, listwise_board, ranking_outcomes, verdict_mode
from judgekit.runs.progress import make_progress
from judgekit.runs.records import input_tables, result_json
from judgekit.runs.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.runs.turns import refuse_multi_turn
from judgekit.store import arena_queries
from judgekit.store.db import Store, open_store
from judgekit.store.trust_queries import write_trust

__all__ = ["ArenaResult", "run_arena"]


@dataclass
class ArenaResult:
    """What :func:`run_arena` returns."""

    run_id: str
    leaderboard: pd.DataFrame
    rounds: pd.DataFrame
    state: ArenaState
    stats: dict[str, Any] = field(default_factory=dict)
    trust: TrustReport | None = None

    def to_json(self) -> dict[str, Any]:
        return result_json(self.run_id, self.leaderboard, self.stats, trust=self.trust)


def _arena_leaderboards(
    state: ArenaState, prompts_of_rounds: Sequence[str], *, bootstrap: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Plackett-Luce (the leaderboard), openskill (the online ratings that steer
    matchmaking) and Bradley-Terry on the implied pairs, each with μ, σ and rounds.

    openskill's sequential moment matching is what makes matchmaking cheap, but a batch
    Plackett-Luce fit of the same rankings orders models better (it weighs every round
    equally instead of locking in early, noisy updates), so it ranks the leaderboard."""
    models = state.models
    names = [[models[i] for i in r] for r in state.rankings]
    outcomes = outcomes_frame(
        [
            o
            for pid, r in zip(prompts_of_rounds, names, strict=True)
            for o in ranking_outcomes(pid, r)
        ]
    )
    data = RankingData(models=models, rankings=tuple(state.rankings))
    skill = openskill_ratings(data)
    extra = pd.DataFrame(
        {
            "model": list(models),
            "mu": list(skill.extras["mu"]),
            "sigma": list(skill.extras["sigma"]),
            "rounds": [int(x) for x in state.appearances],
        }
    )
    boards = {"openskill": listwise_board(skill, outcomes, extra=extra)}
    if state.rankings:
        pl = plackett_luce(data, bootstrap=bootstrap, seed=seed)
        boards["pl"] = listwise_board(pl, outcomes, extra=extra)
        bt = build_leaderboard(outcomes, models=models, bootstrap=0)
        boards["bt"] = bt.merge(extra, on="model", how="left")
    return boards


def _arena_inputs(config: ArenaConfig) -> OutputSet:
    """The candidates' outputs, restricted to the prompt set; errors name the arena file
    and key as well as the output file and line at fault."""
    try:
        data = load_outputs(config.candidate_files())
        refuse_multi_turn(data, feature="`judgekit arena`")
    except InputError as exc:
        raise ConfigError(f"{config.where('candidates')}: {exc}") from None
    prompts = config.prompt_file()
    if prompts is not None and not prompts.is_file():
        raise ConfigError(f"{config.where('prompts')}: prompt set not found: {prompts}")
    try:
        return restrict_to_prompt_set(data, config)
    except InputError as exc:
        raise ConfigError(f"{config.where('prompts')}: {exc}") from None


def _arena_k(config: ArenaConfig, models: Sequence[str]) -> int:
    """Models per round. A ``k`` the file states must fit the candidates; the default (4)
    shrinks to the number of models, so a three-model arena needs no ``k``."""
    if config.k <= len(models):
        return config.k
    if "k" in config.model_fields_set:
        raise ConfigError(
            f"{config.where('k')}: k = {config.k} is larger than the number of models "
            f"({len(models)}: {', '.join(models)}); lower k or add candidates"
        )
    return len(models)


def _arena_judge(
    config: ArenaConfig, judge: str | Judge | None, judge_options: JudgeOptions | None
) -> Judge:
    if judge is not None and not isinstance(judge, str):
        return judge
    options = judge_options or config.judge_options
    if judge is not None:
        return get_judge(judge, options=options)
    try:
        return get_judge(config.judge, options=options)
    except ConfigError as exc:
        raise ConfigError(f"{config.where('judge')}: {exc}") from None


@dataclass
class _Rounds:
    """What playing rounds needs, bundled so the loop reads as the algorithm."""

    config: ArenaConfig
    data: OutputSet
    judge: Judge
    spec: ListwiseSpec
    store: Store
    run_id: str
    k: int

    def play(self, state: ArenaState, planned: Sequence[PlannedRound]) -> ExecutionStats:
        """Judge one batch of rounds, update ``state`` and store the rounds together."""
        models = state.models
        by_prompt = self.data.by_prompt()
        template = load_listwise_template(self.spec.template)
        prefix = LOGPROB_PREFIX if self.spec.mode == "logprobs" else ""
        requests = [
            render_listwise(
                self.data.items[p.prompt_id],
                [by_prompt[p.prompt_id][models[m]] for m in p.shown],
                spec=self.spec,
                template=template,
            )
            for p in planned
        ]
        responses, stats = execute(requests, judge=self.judge, store=self.store)
        rows = []
        for p, request, response in zip(planned, requests, responses, strict=True):
            verdict = parse_listwise(response, k=len(p.models), prefix=prefix)
            ranking = probs = None
            if verdict.status == "ok":
                canon, by_candidate = unpermute(verdict, p.order)
                ranking = tuple(p.models[c] for c in canon)
                if by_candidate is not None:
                    probs = {models[m]: q for m, q in zip(p.models, by_candidate, strict=True)}
            state.apply(ranking, prompt_id=p.prompt_id)
            rows.append(
                {
                    "run_id": self.run_id,
                    "round_index": p.index,
                    "prompt_id": p.prompt_id,
                    "models": json.dumps([models[m] for m in p.models]),
                    "shown": json.dumps([models[m] for m in p.shown]),
                    "request_hash": request.hash_for(self.judge.id),
                    "status": verdict.status,
                    "ranking": json_or_none(
                        None if ranking is None else [models[m] for m in ranking]
                    ),
                    "first_probs": json_or_none(probs),
                    "raw": verdict.raw,
                    "error": verdict.error,
                    "mu_after": json.dumps({models[m]: state.mu[m] for m in p.models}),
                    "sigma_after": json.dumps({models[m]: state.sigma[m] for m in p.models}),
                    "created_at": pd.Timestamp.now(),
                }
            )
        # One transaction per batch: a round is stored whole or not at all.
        self.store.append_rows({"arena_rounds": pd.DataFrame(rows)})
        return stats


def run_arena(
    arena: str | Path | ArenaConfig,
    *,
    db: str | Path = "judgekit.duckdb",
    budget: int | None = None,
    judge: str | Judge | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
) -> ArenaResult:
    """Run (or resume) a K-wise arena until its budget or until every σ is small.

    Args:
        arena: an arena YAML path or a loaded :class:`~judgekit.plan.arena.ArenaConfig`.
        db: the DuckDB store; the arena's rounds live there and a re-run resumes them.
        budget: total rounds, overriding the file's ``budget`` (raise it to extend a
            finished arena).
        judge: a judge id or Judge object to use instead of the file's ``judge``.
        judge_options: backend options overriding the file's ``judge_options``.
        progress: show live progress (round, leader, largest σ) on stderr.

    Returns:
        An :class:`ArenaResult`: the Plackett-Luce leaderboard with each model's openskill μ,
        σ and rounds (stored as method ``pl``; ``openskill`` and ``bt`` are stored too),
        every stored round, the final state and stats.

    Raises:
        ConfigError, InputError, MissingDependencyError, StoreError: every check of the
        file and its inputs runs before the store is opened, so bad input writes nothing.
    """
    config = arena if isinstance(arena, ArenaConfig) else load_arena(arena)
    total = budget if budget is not None else config.budget
    if total < 1:
        raise ConfigError(f"budget must be >= 1 round, got {total}")
    data = _arena_inputs(config)
    models = data.models
    k = _arena_k(config, models)
    judge_obj = _arena_judge(config, judge, judge_options)
    mode = verdict_mode(config.verdict, judge_obj)
    try:
        check_k(k, mode=mode)
    except ConfigError as exc:
        raise ConfigError(f"{config.where('k')}: {exc}") from None
    spec = ListwiseSpec(
        mode=mode, criteria=config.criteria or ListwiseSpec().criteria, template=config.template
    )
    load_listwise_template(spec.template)  # a bad template fails here, not mid-run
    index = {m: i for i, m in enumerate(models)}
    prompts = {pid: sorted(index[m] for m in cands) for pid, cands in data.by_prompt().items()}
    run_id = run_id_for(config, inputs_digest=data.digest(), judge_id=judge_obj.id, mode=mode)
    run_config = {
        **config.model_dump(mode="json", exclude={"judge_options"}),
        "name": config.arena_name,
        "k": k,
        "budget": total,
        "inputs": data.sources,
        "verdict_mode": mode,
        "judge": judge_obj.id,
    }
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="arena", config=run_config, run_id=run_id)
        store.replace_rows(run_id, input_tables(run_id, data))
        state = replay_rounds(store, run_id, models)
        resumed = state.rounds
        rounds_ = _Rounds(config, data, judge_obj, spec, store, run_id, k)
        totals = EMPTY_STATS
        stop = "budget"
        bar = make_progress(enabled=progress)
        try:
            with bar:
                task = bar.add_task(
                    describe_state(state), total=total, completed=min(resumed, total)
                )
                while state.rounds < total:
                    if bool((state.sigma < config.sigma_threshold).all()):
                        stop = "converged"
                        break
                    planned = plan_rounds(
                        state,
                        prompts=prompts,
                        k=k,
                        seed=config.seed,
                        count=min(config.batch, total - state.rounds),
                    )
                    totals = totals + rounds_.play(state, planned)
                    bar.update(task, completed=state.rounds, description=describe_state(state))
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        rounds = arena_queries.arena_rounds(store, run_id=run_id)
        ok_prompts = rounds.loc[rounds["status"] == "ok", "prompt_id"].tolist()
        boards = _arena_leaderboards(
            state, ok_prompts, bootstrap=config.bootstrap, seed=config.seed
        )
        for method, board in boards.items():
            store.write_ratings(run_id=run_id, method=method, frame=board)
        stats_out = {
            "rounds": state.rounds,
            "budget": total,
            "k": k,
            "resumed_from": resumed,
            "new_rounds": state.rounds - resumed,
            "failed_rounds": state.failed,
            "judge_calls_made": totals.called,
            "judge_calls_cached": totals.cached,
            "judge_calls_failed": totals.failed,
            "max_sigma": float(state.sigma.max()),
            "stop": stop,
        }
        board = boards.get("pl", boards["openskill"])
        trust = _arena_trust(rounds, models=models, board=board)
        write_trust(store, run_id=run_id, report=trust.to_dict())
        store.finish_run(run_id, stats=stats_out)
    emit_warnings(trust)
    return ArenaResult(
        run_id=run_id,
        leaderboard=board,
        rounds=rounds,
        state=state,
        stats=stats_out,
        trust=trust,
    )


def _arena_trust(
    rounds: pd.DataFrame, *, models: Sequence[str], board: pd.DataFrame
) -> TrustReport:
    """The arena's trust report, from every stored round (resumed ones included)."""
    ok = rounds[(rounds["status"] == "ok") & rounds["ranking"].notna()]
    outcomes = outcomes_frame(
        [
            o
            for pid, ranking in zip(ok["prompt_id"], ok["ranking"], strict=True)
            for o in ranking_outcomes(pid, list(ranking))
        ]
    )
    return listwise_trust(outcomes, rounds, models=models, board=board, kind="arena")


def replay_rounds(store: Store, run_id: str, models: Sequence[str]) -> ArenaState:
    """Rebuild the arena state from its stored rounds, without judging anything."""
    state = ArenaState.fresh(models)
    index = {m: i for i, m in enumerate(models)}
    rounds = arena_queries.arena_rounds(store, run_id=run_id)
    for row in rounds.itertuples(index=False):
        if row.round_index != state.rounds:
            raise StoreError(
                f"{store.path}: arena run {run_id} has no round {state.rounds} "
                f"(found {row.round_index}); the store was edited by hand"
            )
        try:
            ranking = None if row.ranking is None else tuple(index[m] for m in row.ranking)
        except KeyError as exc:
            raise StoreError(f"arena run {run_id} names an unknown model {exc}") from None
        state.apply(ranking, prompt_id=row.prompt_id)
    return state
