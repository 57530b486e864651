"""``judgekit compare``: judge model outputs pairwise in both orders and print a leaderboard."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import click

from judgekit.commands.common import (
    API_KEY_ENV_HELP,
    BATCH_SIZE_HELP,
    api_options,
    collects_judge_options,
    judge_on_cluster,
    judge_opt_option,
    leaderboard_table,
    max_batch_tokens_option,
    print_json,
    ray_cluster_options,
    show_trust,
    stderr,
    stdout,
    strict_option,
)
from judgekit.commands.turns import board_title, chosen_boards, turn_option, turn_payload

if TYPE_CHECKING:
    from judgekit.judges.base import Judge, JudgeOptions
    from judgekit.runs.options import CompareOptions
    from judgekit.runs.ray_exec import RayOptions
    from judgekit.runs.records import CompareResult


@click.command()
@ray_cluster_options
@collects_judge_options
@click.argument("outputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--judge",
    "judge_ids",
    multiple=True,
    default=("hf/smollm2",),
    show_default=True,
    help="Judge id: hf/smollm2, hf/PATH, vllm/PATH, openai/MODEL, litellm/PROVIDER/MODEL, "
    "fake/hash. "
    "Repeat it to judge with a panel: --judge A --judge B.",
)
@click.option(
    "--pool",
    type=click.Choice(["mean", "majority"]),
    default="mean",
    show_default=True,
    help="How a panel pools its judges: mean probabilities or a majority vote.",
)
@click.option(
    "--repeats",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples per judge in a panel (more than 1 measures repeat variance).",
)
@click.option(
    "--base-url",
    default=None,
    help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.",
)
@click.option("--api-key-env", default=None, help=API_KEY_ENV_HELP)
@api_options
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests in flight at once for API judges.",
)
@click.option(
    "--batch-size",
    default=None,
    type=click.IntRange(min=1),
    help=BATCH_SIZE_HELP,
)
@judge_opt_option
@max_batch_tokens_option
@click.option(
    "--protocol",
    type=click.Choice(["pairwise", "listwise"]),
    default="pairwise",
    show_default=True,
    help="pairwise: each pair in both orders; listwise: the judge ranks K answers per call.",
)
@click.option(
    "--k",
    "k",
    default=None,
    type=click.IntRange(2, 20),
    help="Answers per listwise call (--protocol listwise; default 4, or the number of "
    "models when fewer). Prompts with more models are ranked in overlapping blocks of K.",
)
@click.option(
    "--permutations",
    default=None,
    type=click.IntRange(min=1),
    help="Orders per listwise list (default K: every answer in every slot once).",
)
@click.option(
    "--schedule",
    default="all-pairs",
    show_default=True,
    help="all-pairs, baseline:MODEL, sample:N (pairs per prompt) or adaptive:BUDGET "
    "(BUDGET comparisons chosen by expected information, in batches).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed for sampled schedules and the bootstrap.",
)
@click.option(
    "--verdict",
    type=click.Choice(["auto", "logprobs", "generate"]),
    default="auto",
    show_default=True,
    help="logprobs: A/B/tie probabilities from one forward pass; generate: parse [[A]].",
)
@click.option(
    "--disagreement",
    type=click.Choice(["tie", "drop"]),
    default="tie",
    show_default=True,
    help="What a discrete verdict that flips with the order becomes.",
)
@click.option(
    "--rubric",
    default=None,
    help="Rubric name or YAML path (e.g. a constitution); its criteria judge the pair.",
)
@click.option("--criteria", default=None, help="Judging criteria for the pairwise prompt.")
@click.option(
    "--template",
    default="pairwise",
    show_default=True,
    help="Pairwise prompt template: a name in rubrics/templates/ or a .md path.",
)
@click.option(
    "--ties",
    type=click.Choice(["half", "davidson", "rao-kupper"]),
    default="half",
    show_default=True,
    help="How Bradley-Terry treats ties.",
)
@click.option(
    "--bootstrap",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap rounds for the 95% CIs (0 for none).",
)
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store; identical requests already stored are not judged again.",
)
@click.option(
    "--human",
    "human_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Human pairwise labels (any layout `judgekit meta --human` reads): the trust line "
    "adds accuracy, kappa, a test against chance and the always-longer/first/second "
    "baselines.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
@strict_option
@turn_option
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show a progress bar on stderr.",
)
def compare(
    outputs: tuple[str, ...],
    judge_ids: tuple[str, ...],
    pool: str,
    repeats: int,
    judge_options: JudgeOptions,
    ray_options: RayOptions | None,
    protocol: str,
    k: int | None,
    permutations: int | None,
    schedule: str,
    seed: int,
    verdict: str,
    disagreement: str,
    rubric: str | None,
    criteria: str | None,
    template: str,
    ties: str,
    bootstrap: int,
    db: str,
    human_path: str | None,
    as_json: bool,
    strict: bool,
    turn: int | None,
    progress: bool,
) -> None:
    """Compare model OUTPUTS pairwise with an LLM judge and print a leaderboard.

    OUTPUTS are JSONL, CSV or Parquet files with prompt_id, prompt, model and output
    columns (reference optional), or AlpacaEval model_outputs.json files. Every pair is
    judged in both orders to cancel position bias; everything is stored in --db, and a
    re-run only judges what is not stored yet. Multi-turn conversations (a messages
    column, or MT-Bench choices[0].turns with the question's turns) are judged turn by
    turn, each later turn with the whole conversation in view; --turn picks the board.
    Under the board, a trust line says how far the judge can be trusted (see "Can I trust
    this judge?" in the README).

    \b
    Example:
      judgekit compare a.jsonl b.jsonl c.jsonl --judge hf/smollm2
      judgekit compare outs/*.jsonl --judge openai/my-model --base-url http://127.0.0.1:8000/v1
      judgekit compare outs/*.jsonl --judge vllm/smollm2 --judge-opt max_model_len=2048
    """
    from judgekit.runs.options import CompareOptions
    from judgekit.views.trust_line import quiet_trust_warnings

    options = CompareOptions(
        protocol=protocol,  # type: ignore[arg-type]
        k=k,
        permutations=permutations,
        schedule=schedule,
        seed=seed,
        verdict=verdict,  # type: ignore[arg-type]
        disagreement=disagreement,  # type: ignore[arg-type]
        rubric=rubric,
        criteria=criteria,
        template=template,
        bootstrap=bootstrap,
        ties=ties,  # type: ignore[arg-type]
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_trust_warnings())
        # With --ray each judge runs as replicas on the cluster; the ids stay the same.
        judges = [
            stack.enter_context(
                judge_on_cluster(j, judge_options=judge_options, ray_options=ray_options)
            )
            for j in judge_ids
        ]
        result = _run(
            judges,
            outputs,
            options=options,
            judge_options=judge_options,
            db=db,
            pool=pool,
            repeats=repeats,
            progress=progress and not as_json,
            human=human_path,
        )
    judge_id = judge_ids[0] if len(judge_ids) == 1 else "panel: " + ", ".join(judge_ids)
    boards = chosen_boards(result.leaderboard, result.turn_leaderboards, turn)
    if as_json:
        print_json(turn_payload(result.to_json(), boards, turn))
        show_trust(result.trust, strict=strict, as_json=True)
        return
    s = result.stats
    multi = bool(result.turn_leaderboards)
    for shown, board in boards:
        title = board_title(f"Leaderboard · {judge_id}", shown, multi_turn=multi)
        stdout.print(leaderboard_table(board, title=title))
    stderr.print(
        f"run {result.run_id} · {s['comparisons']} comparisons · "
        f"judge calls: {s['judge_calls_made']} made, {s['judge_calls_cached']} cached, "
        f"{s['judge_calls_failed']} failed · flip rate {s['flip_rate']:.1%} · "
        f"parse failures {s['parse_failures']} · "
        + (
            f"slot [1] ranked first {s['first_slot_rate']:.0%} (1/K if unbiased) · "
            if s.get("first_slot_rate") is not None
            else ""
        )
        + (
            f"Krippendorff's α {s['krippendorff_alpha']:.2f} · "
            if s.get("krippendorff_alpha") is not None
            else ""
        )
        + f"stored in {db}",
        soft_wrap=True,
    )
    show_trust(result.trust, strict=strict, as_json=False)


def _run(
    judges: list[str | Judge],
    outputs: tuple[str, ...],
    *,
    options: CompareOptions,
    judge_options: JudgeOptions,
    db: str,
    pool: str,
    repeats: int,
    progress: bool,
    human: str | None,
) -> CompareResult:
    """One judge: a plain run; several, or repeats: a panel."""
    from judgekit.runs.compare import compare as run_compare
    from judgekit.runs.panel import compare_panel

    if len(judges) == 1 and repeats == 1:
        return run_compare(
            list(outputs),
            judge=judges[0],
            db=db,
            options=options,
            judge_options=judge_options,
            progress=progress,
            human=human,
        )
    return compare_panel(
        list(outputs),
        judges=judges,
        db=db,
        pool=pool,  # type: ignore[arg-type]
        repeats=repeats,
        options=options,
        judge_options=judge_options,
        progress=progress,
        human=human,
    )
