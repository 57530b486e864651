"""``judgekit arena``: run a K-wise arena (listwise rounds, openskill ratings) and inspect it."""

from __future__ import annotations

import contextlib
import json
import math
from typing import TYPE_CHECKING, Any

import click
import pandas as pd
from rich.table import Table

from judgekit.commands.common import (
    judge_on_cluster,
    print_json,
    ray_cluster_options,
    show_trust,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from judgekit.runs.ray_exec import RayOptions


def arena_table(board: pd.DataFrame, *, title: str) -> Table:
    """Rank, model, Elo-scale rating with its 95 % interval, openskill μ and σ, rounds."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (
        ("Rank", "right"),
        ("Model", "left"),
        ("Rating", "right"),
        ("95% CI", "right"),
        ("μ", "right"),
        ("σ", "right"),
        ("Rounds", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in board.to_dict(orient="records"):
        low, high = row.get("ci_low"), row.get("ci_high")
        ci = "–" if low is None or math.isnan(low) else f"{low:.0f} – {high:.0f}"
        table.add_row(
            str(row["rank"]),
            str(row["model"]),
            f"{row['rating']:.1f}",
            ci,
            f"{row['mu']:.2f}",
            f"{row['sigma']:.2f}",
            str(int(row["rounds"])),
        )
    return table


@click.group()
def arena() -> None:
    """K-wise arenas: each round the judge ranks K models' answers to one prompt."""


@arena.command("run")
@ray_cluster_options
@click.argument("arena_file", type=click.Path(dir_okay=False))
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Total rounds (listwise judge calls), overriding the file; raise it to extend.",
)
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store; the arena's rounds are kept there and a re-run resumes them.",
)
@click.option(
    "--judge",
    "judge_id",
    default=None,
    help="Judge id overriding the file's judge (e.g. openai/MODEL, hf/smollm2).",
)
@click.option("--base-url", default=None, help="Base URL of an OpenAI-compatible judge server.")
@click.option(
    "--batch-size",
    default=None,
    type=click.IntRange(min=1),
    help="Forward-pass batch size for in-process judges (default: the file's or 8).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show live progress (round, leader, largest σ) on stderr.",
)
def run(
    arena_file: str,
    budget: int | None,
    db: str,
    judge_id: str | None,
    base_url: str | None,
    batch_size: int | None,
    as_json: bool,
    progress: bool,
    ray_options: RayOptions | None,
) -> None:
    """Run or resume the arena defined in ARENA_FILE (arenas/NAME.yaml).

    Each round picks a prompt and K models (the most uncertain model first, then the
    models closest to it in rating), the judge ranks their answers in one listwise call
    shown in a random order, and the Bayesian ratings (μ, σ) are updated. It stops at the
    budget or when every σ is below the file's sigma_threshold. Every round is stored, so
    an interrupted arena resumes where it stopped without judging a round twice.

    \b
    Example:
      judgekit arena run arenas/demo.yaml --budget 40
    """
    from judgekit.plan.arena import load_arena
    from judgekit.runs.arena import run_arena

    config = load_arena(arena_file)
    judge_options = None
    if base_url is not None or batch_size is not None:
        update: dict[str, Any] = {}
        if base_url is not None:
            update["base_url"] = base_url
        if batch_size is not None:
            update["batch_size"] = batch_size
        judge_options = config.judge_options.model_copy(update=update)
    from judgekit.views.trust_line import quiet_trust_warnings

    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_trust_warnings())
        judge: Any = judge_id
        if ray_options is not None:
            judge = stack.enter_context(
                judge_on_cluster(
                    judge_id or config.judge,
                    judge_options=judge_options or config.judge_options,
                    ray_options=ray_options,
                )
            )
        result = run_arena(
            config,
            db=db,
            budget=budget,
            judge=judge,
            judge_options=judge_options,
            progress=progress and not as_json,
        )
    if as_json:
        print_json(result.to_json())
        return
    s = result.stats
    title = f"Arena {config.arena_name} · {judge_id or config.judge} · k={s['k']}"
    stdout.print(arena_table(result.leaderboard, title=title))
    stderr.print(
        f"run {result.run_id} · {s['rounds']}/{s['budget']} rounds "
        f"({s['new_rounds']} new, resumed from {s['resumed_from']}) · "
        f"{s['failed_rounds']} failed · max σ {s['max_sigma']:.2f} · stopped: {s['stop']} · "
        f"stored in {db}",
        soft_wrap=True,
    )
    show_trust(result.trust, strict=False, as_json=False)


@arena.command("status")
@click.argument("arena_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store to read.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
def status(arena_file: str | None, db: str, as_json: bool) -> None:
    """Show an arena's stored rounds and ratings without judging anything.

    With ARENA_FILE, the newest run of that arena; without, the newest arena run.
    """
    from judgekit.plan.arena import load_arena
    from judgekit.store import arena_queries
    from judgekit.store.db import open_store

    name = load_arena(arena_file).arena_name if arena_file else None
    with open_store(db, read_only=True) as store:
        run_id = arena_queries.latest_arena_run(store, name=name)
        runs = arena_queries.arena_runs(store)
        info = runs[runs["run_id"] == run_id].iloc[0]
        state = arena_queries.arena_state(store, run_id=run_id)
        rounds = arena_queries.arena_rounds(store, run_id=run_id)
    failed = int((rounds["status"] != "ok").sum()) if len(rounds) else 0
    summary = {
        "run_id": run_id,
        "name": info["name"],
        "status": info["status"],
        "rounds": int(info["rounds"]),
        "budget": None if pd.isna(info["budget"]) else int(info["budget"]),
        "failed_rounds": failed,
        "models": json_records(state),
    }
    if as_json:
        print_json(summary)
        return
    table = Table(
        title=f"Arena {summary['name']} · {summary['rounds']}/{summary['budget']} rounds · "
        f"{summary['status']}",
        title_justify="left",
        header_style="bold",
    )
    for column in ("Model", "μ", "σ", "Rounds"):
        table.add_column(column, justify="left" if column == "Model" else "right")
    for row in state.to_dict(orient="records"):
        table.add_row(row["model"], f"{row['mu']:.2f}", f"{row['sigma']:.2f}", str(row["rounds"]))
    stdout.print(table)
    stderr.print(f"run {run_id} · {failed} failed rounds · {db}", soft_wrap=True)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(json.loads(frame.to_json(orient="records")))
