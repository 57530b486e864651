"""``judgekit checklist``: TICK checklist evaluation of model outputs."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import click

from judgekit.commands.common import (
    collects_judge_options,
    judge_on_cluster,
    leaderboard_table,
    print_json,
    ray_cluster_options,
    show_trust,
    stderr,
    stdout,
)
from judgekit.commands.grade import judge_backend_options, run_options, score_table

if TYPE_CHECKING:
    from judgekit.judges.base import JudgeOptions
    from judgekit.runs.ray_exec import RayOptions


@click.command()
@ray_cluster_options
@collects_judge_options
@click.argument("outputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--checklists",
    "checklists_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="User-written checklists (JSONL: prompt_id or prompt, and questions) to use "
    "instead of generated ones.",
)
@click.option(
    "--export-checklists",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the checklists used to this JSONL file (reusable with --checklists).",
)
@judge_backend_options
@click.option(
    "--generator",
    default=None,
    help="Judge id that writes the checklists (default: the --judge).",
)
@click.option(
    "--verdict",
    type=click.Choice(["auto", "logprobs", "generate"]),
    default="auto",
    show_default=True,
    help="logprobs: P(YES) from one forward pass per (response, question); generate: "
    "parse a YES/NO reply; auto: logprobs when the judge supports them.",
)
@click.option(
    "--max-questions",
    default=8,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Keep at most this many questions per generated checklist.",
)
@click.option(
    "--generate-tokens",
    default=200,
    show_default=True,
    type=click.IntRange(min=32),
    help="Token budget for writing one checklist.",
)
@click.option(
    "--tie-margin",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Pass rates closer than this count as a tie in the pairwise outcomes.",
)
@run_options
def checklist(
    outputs: tuple[str, ...],
    checklists_path: str | None,
    export_checklists: str | None,
    judge_id: str,
    judge_options: JudgeOptions,
    ray_options: RayOptions | None,
    generator: str | None,
    verdict: str,
    max_questions: int,
    generate_tokens: int,
    tie_margin: float,
    bootstrap: int,
    seed: int,
    db: str,
    as_json: bool,
    strict: bool,
    progress: bool,
) -> None:
    """Evaluate model OUTPUTS with YES/NO checklists (TICK) and rank by pass rate.

    The judge writes, for each instruction, a checklist of YES/NO questions, each about one
    requirement (or --checklists gives your own), then answers every question for every
    response. A response's pass rate is its expected share of YES answers. The first table
    is the mean pass rate per model with 95% bootstrap CIs; the second is Bradley-Terry on
    pairwise outcomes where the higher pass rate wins (equal rates tie).

    \b
    Example:
      judgekit checklist outs/*.jsonl --export-checklists checklists.jsonl
      judgekit checklist outs/*.jsonl --checklists checklists.jsonl --judge openai/my-model
    """
    from judgekit.rubrics.loader import dump_checklists
    from judgekit.rubrics.model import ChecklistOptions
    from judgekit.runs.checklist import checklist as run_checklist
    from judgekit.views.trust_line import quiet_trust_warnings

    options = ChecklistOptions(
        verdict=verdict,  # type: ignore[arg-type]
        max_questions=max_questions,
        generate_tokens=generate_tokens,
        tie_margin=tie_margin,
        bootstrap=bootstrap,
        seed=seed,
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_trust_warnings())
        judge = stack.enter_context(
            judge_on_cluster(judge_id, judge_options=judge_options, ray_options=ray_options)
        )
        writer = None
        if generator is not None and generator != judge_id:
            writer = stack.enter_context(
                judge_on_cluster(generator, judge_options=judge_options, ray_options=ray_options)
            )
        result = run_checklist(
            list(outputs),
            judge=judge,
            db=db,
            checklists=checklists_path,
            generator=writer,
            options=options,
            judge_options=judge_options,
            progress=progress and not as_json,
        )
    if export_checklists:
        dump_checklists(result.checklist_objects(), export_checklists)
    if as_json:
        print_json(result.to_json())
        show_trust(result.trust, strict=strict, as_json=True)
        return
    stdout.print(
        score_table(
            result.leaderboard,
            title=f"Checklist pass rates · {judge_id}",
            score_label="Pass rate",
            spec=".1%",
            extra=["weighted_pass_rate"],
        )
    )
    if result.bt_leaderboard is not None:
        stdout.print(
            leaderboard_table(result.bt_leaderboard, title="Bradley-Terry on pass-rate outcomes")
        )
    s = result.stats
    exported = f" · checklists written to {export_checklists}" if export_checklists else ""
    stderr.print(
        f"run {result.run_id} · {s['prompts']} prompts · {s['questions']} questions · "
        f"{s['answers']} answers ({s['mode']}) · judge calls: {s['judge_calls_made']} made, "
        f"{s['judge_calls_cached']} cached, {s['judge_calls_failed']} failed · "
        f"checklist failures {s['checklist_failures']} · answer parse failures "
        f"{s['answer_parse_failures']} · stored in {db}{exported}"
    )
    show_trust(result.trust, strict=strict, as_json=False)
