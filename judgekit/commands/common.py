"""Shared CLI helpers: judge options, leaderboard tables and JSON output."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from judgekit.judges.base import JudgeOptions


class _LazyConsole:
    """A rich ``Console`` built on first use: importing rich costs start-up time that
    ``judgekit --help`` should not pay."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


stdout: Console = _LazyConsole(stderr=False)  # type: ignore[assignment]
stderr: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]

BATCH_SIZE_HELP = (
    "Most rows per forward pass for in-process judges [default: hf 64, vllm unlimited; the "
    "token budget --max-batch-tokens usually binds first]."
)


def judge_opt_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--judge-opt KEY=VALUE`` (repeatable): engine options of an in-process vllm judge."""
    return click.option(
        "--judge-opt",
        "judge_opts",
        multiple=True,
        metavar="KEY=VALUE",
        help="Engine option of a vllm judge, repeatable: max_model_len=4096, dtype=bfloat16, "
        "tensor_parallel_size=2, gpu_memory_utilization=0.85 (others go to vllm.LLM as is).",
    )(fn)


def max_batch_tokens_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--max-batch-tokens N``: the token budget of one forward of an in-process judge."""
    return click.option(
        "--max-batch-tokens",
        default=None,
        type=click.IntRange(min=1),
        help="Padded tokens per forward pass of in-process judges, which sort the whole plan "
        "by length and cut it under this budget [default: hf 4096; vllm 262144 per generate "
        "call].",
    )(fn)


def collects_judge_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the judge flags (``--base-url`` ... ``--judge-opt``) into one ``judge_options``.

    Put it right under ``@click.command()``: click then sees the flags' parameters, and the
    command receives a validated ``JudgeOptions`` instead of five loose values.
    """

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        base_url: str | None,
        api_key_env: str,
        concurrency: int,
        batch_size: int | None,
        judge_opts: tuple[str, ...],
        max_batch_tokens: int | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs["judge_options"] = build_judge_options(
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
            batch_size=batch_size,
            judge_opts=judge_opts,
            max_batch_tokens=max_batch_tokens,
        )
        return fn(*args, **kwargs)

    return wrapper


def build_judge_options(
    *,
    base_url: str | None,
    api_key_env: str,
    concurrency: int,
    batch_size: int | None,
    judge_opts: Sequence[str] = (),
    max_batch_tokens: int | None = None,
) -> JudgeOptions:
    """``JudgeOptions`` from the CLI flags; a bad ``--judge-opt`` is a usage error naming it.

    ``batch_size`` None leaves each backend its own default (8 for hf, 256 for vllm, whose
    scheduler batches internally and gains from big calls).
    """
    from judgekit.judges.base import JudgeOptions

    engine: dict[str, str] = {}
    for raw in judge_opts:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{raw!r} is not KEY=VALUE", param_hint="'--judge-opt'")
        if key in engine:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="'--judge-opt'")
        engine[key] = value.strip()
    fields: dict[str, Any] = {"batch_size": batch_size} if batch_size is not None else {}
    return JudgeOptions(
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        engine=engine,
        max_batch_tokens=max_batch_tokens,
        **fields,
    )


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def leaderboard_table(board: pd.DataFrame, *, title: str | None = None) -> Table:
    """A rich table: rank, model, rating, 95 % CI, win rate, comparisons."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Rank", justify="right")
    table.add_column("Model")
    table.add_column("Rating", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("Win rate", justify="right")
    table.add_column("N", justify="right")
    for row in board.to_dict(orient="records"):
        low, high = row.get("ci_low"), row.get("ci_high")
        ci = "–"
        if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
            ci = f"{low:.0f} – {high:.0f}"
        table.add_row(
            str(row["rank"]),
            str(row["model"]),
            _fmt(row["rating"], ".1f"),
            ci,
            _fmt(row.get("win_rate"), ".1%"),
            _fmt(row.get("n"), ".0f"),
        )
    return table


def print_json(payload: Any) -> None:
    """Machine-readable output on stdout, nothing else there."""
    click_echo = json.dumps(payload, indent=2, sort_keys=False, default=str)
    print(click_echo)
