"""``judgekit grade``: score model outputs with a rubric and print mean scores per model."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
import pandas as pd
from rich.table import Table

from judgekit.commands.common import (
    API_KEY_ENV_HELP,
    BATCH_SIZE_HELP,
    api_option_list,
    collects_judge_options,
    judge_on_cluster,
    judge_opt_option,
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
    from judgekit.judges.base import JudgeOptions
    from judgekit.runs.ray_exec import RayOptions

F = Callable[..., Any]


def judge_backend_options(fn: F) -> F:
    """The judge-selection options shared by ``grade`` and ``checklist``."""
    options = [
        click.option(
            "--judge",
            "judge_id",
            default="hf/smollm2",
            show_default=True,
            help="Judge id: hf/smollm2, hf/PATH, vllm/PATH, openai/MODEL, litellm/PROVIDER/MODEL.",
        ),
        click.option(
            "--base-url",
            default=None,
            help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.",
        ),
        click.option("--api-key-env", default=None, help=API_KEY_ENV_HELP),
        *api_option_list(),
        click.option(
            "--concurrency",
            default=8,
            show_default=True,
            type=click.IntRange(min=1),
            help="Requests in flight at once for API judges.",
        ),
        click.option(
            "--batch-size",
            default=None,
            type=click.IntRange(min=1),
            help=BATCH_SIZE_HELP,
        ),
        judge_opt_option,
        max_batch_tokens_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def run_options(fn: F) -> F:
    """Store, output and progress options shared by ``grade`` and ``checklist``."""
    options = [
        click.option(
            "--bootstrap",
            default=1000,
            show_default=True,
            type=click.IntRange(min=0),
            help="Bootstrap rounds over prompts for the 95% CIs (0 for none).",
        ),
        click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed."),
        click.option(
            "--db",
            default="judgekit.duckdb",
            show_default=True,
            type=click.Path(dir_okay=False),
            help="DuckDB store; identical requests already stored are not judged again.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON."),
        strict_option,
        click.option(
            "--progress/--no-progress",
            default=True,
            show_default=True,
            help="Show a progress bar on stderr.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    return format(value, spec)


def score_table(
    board: pd.DataFrame, *, title: str, score_label: str, spec: str, extra: list[str]
) -> Table:
    """A rich table of mean scores: rank, model, score, 95% CI, extra columns, N, failures."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("Rank", "right"), ("Model", "left"), (score_label, "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("95% CI", justify="right")
    for name in extra:
        table.add_column(name.replace("_", " ").capitalize(), justify="right")
    table.add_column("N", justify="right")
    table.add_column("Failures", justify="right")
    for row in board.to_dict(orient="records"):
        low, high = row.get("ci_low"), row.get("ci_high")
        ci = "–"
        if _fmt(low, spec) != "–" and _fmt(high, spec) != "–":
            ci = f"{format(low, spec)} – {format(high, spec)}"
        table.add_row(
            str(row["rank"]),
            str(row["model"]),
            _fmt(row["score"], spec),
            ci,
            *(_fmt(row.get(name), spec) for name in extra),
            _fmt(row.get("n"), ".0f"),
            _fmt(row.get("failures"), ".0f"),
        )
    return table


@click.command()
@ray_cluster_options
@collects_judge_options
@click.argument("outputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--rubric",
    required=True,
    help="Rubric: a shipped name (see `judgekit rubrics list`), a folder or a YAML file.",
)
@judge_backend_options
@click.option(
    "--verdict",
    type=click.Choice(["auto", "logprobs", "generate"]),
    default="auto",
    show_default=True,
    help="logprobs: expected score over the score tokens from one forward pass per "
    "criterion (G-Eval); generate: Prometheus feedback then [RESULT], all criteria in one "
    "call; auto: logprobs when the judge and the scale allow it.",
)
@click.option(
    "--feedback/--no-feedback",
    default=False,
    show_default=True,
    help="With logprobs, first have the judge write feedback, then read the score "
    "distribution after it (slower; explains each score).",
)
@run_options
@turn_option
def grade(
    outputs: tuple[str, ...],
    rubric: str,
    judge_id: str,
    judge_options: JudgeOptions,
    ray_options: RayOptions | None,
    verdict: str,
    feedback: bool,
    bootstrap: int,
    seed: int,
    db: str,
    as_json: bool,
    strict: bool,
    progress: bool,
    turn: int | None,
) -> None:
    """Grade model OUTPUTS with a rubric and print the mean score per model.

    OUTPUTS are JSONL, CSV or Parquet files with prompt_id, prompt, model and output
    columns (reference optional), as for `judgekit compare`; one model is enough. Each
    response gets a score per criterion; the leaderboard shows the mean per model with
    95% bootstrap CIs over prompts, overall and per criterion. Unparseable judge replies
    are stored as parse failures and left out of the means. Multi-turn conversations are
    graded turn by turn, each later turn with the whole conversation in view; --turn picks
    the board (all: each turn's means, then the mean over every prompt and turn). A trust
    line under the table says whether the scores separate the models at all.

    \b
    Example:
      judgekit grade outs/*.jsonl --rubric helpfulness
      judgekit grade outs/*.jsonl --rubric hhh --verdict generate --judge openai/my-model
    """
    from judgekit.rubrics.model import GradeOptions
    from judgekit.runs.grade import grade as run_grade
    from judgekit.views.trust_line import quiet_trust_warnings

    options = GradeOptions(
        verdict=verdict,  # type: ignore[arg-type]
        feedback=feedback,
        bootstrap=bootstrap,
        seed=seed,
    )
    with (
        quiet_trust_warnings(),
        judge_on_cluster(judge_id, judge_options=judge_options, ray_options=ray_options) as judge,
    ):
        result = run_grade(
            list(outputs),
            rubric=rubric,
            judge=judge,
            db=db,
            options=options,
            judge_options=judge_options,
            progress=progress and not as_json,
        )
    boards = chosen_boards(result.leaderboard, result.turn_leaderboards, turn)
    if as_json:
        print_json(turn_payload(result.to_json(), boards, turn))
        show_trust(result.trust, strict=strict, as_json=True)
        return
    criteria = [c for c in result.leaderboard.columns if c not in _BOARD_COLUMNS]
    multi = bool(result.turn_leaderboards)
    for shown, board in boards:
        base = f"Mean scores · rubric {result.rubric} · {judge_id}"
        stdout.print(
            score_table(
                board,
                title=board_title(base, shown, multi_turn=multi),
                score_label="Score",
                spec=".2f",
                extra=criteria,
            )
        )
    s = result.stats
    stderr.print(
        f"run {result.run_id} · {s['responses']} responses · mode {s['mode']} · "
        f"judge calls: {s['judge_calls_made']} made, {s['judge_calls_cached']} cached, "
        f"{s['judge_calls_failed']} failed · parse failures {s['parse_failures']} · "
        f"stored in {db}"
    )
    show_trust(result.trust, strict=strict, as_json=False)


_BOARD_COLUMNS = {"rank", "model", "score", "ci_low", "ci_high", "n", "failures"}
