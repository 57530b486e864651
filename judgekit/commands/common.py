"""Shared CLI helpers: judge options, leaderboard tables and JSON output."""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from judgekit.judges.base import Judge, JudgeOptions
    from judgekit.quality.trust import TrustReport
    from judgekit.runs.ray_exec import RayOptions


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
API_KEY_ENV_HELP = (
    "Environment variable holding the API key (keys are never stored) [default: "
    "OPENAI_API_KEY for openai/; for litellm/ the provider's own, e.g. ANTHROPIC_API_KEY, "
    "and none for ollama, vllm or a --base-url server]."
)
TIMEOUT_HELP = (
    "Seconds an API judge waits for one reply (openai/, litellm/); connecting to the server "
    "is also checked up front within min(5, SECONDS) [default: 60]."
)
MAX_RETRIES_HELP = (
    "Retries of one API request after a 429, a 5xx, a timeout or a dropped connection "
    "(never after another 4xx). Retry k waits a random 0 to min(20, 0.5 x 2^(k-1)) seconds "
    "(0.5, 1, 2, 4, 8 ...), or the server's Retry-After up to 60 s; a request that still "
    "fails is stored as failed and retried by the next run [default: 5]."
)


def api_option_list() -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """``--timeout SECONDS`` and ``--max-retries N`` for the API judges, as decorators."""
    return [
        click.option(
            "--timeout",
            "timeout_s",
            default=None,
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help=TIMEOUT_HELP,
        ),
        click.option(
            "--max-retries",
            "max_retries",
            default=None,
            type=click.IntRange(min=0),
            metavar="N",
            help=MAX_RETRIES_HELP,
        ),
    ]


def api_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :func:`api_option_list` to a command."""
    for option in reversed(api_option_list()):
        fn = option(fn)
    return fn


#: Exit code of ``--strict`` when the trust report raised a warning (the run is stored).
UNTRUSTED_EXIT = 3


def strict_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--strict``: exit with code 3, after storing the run, when the judge is not trusted."""
    return click.option(
        "--strict",
        is_flag=True,
        help="Exit with code 3 (after storing the run) when the trust report raises any "
        "warning, so that CI does not publish an untrustworthy result.",
    )(fn)


def show_trust(report: TrustReport | None, *, strict: bool, as_json: bool) -> None:
    """Print the trust line and warning blocks (not with --json), then apply --strict."""
    from judgekit.views.trust_line import print_trust

    if not as_json:
        print_trust(report, out=stdout, err=stderr)
    if strict and report is not None and report.warnings:
        if not as_json:
            stderr.print(
                f"[red]--strict: {len(report.warnings)} trust warning(s); exit code "
                f"{UNTRUSTED_EXIT}[/red]"
            )
        raise click.exceptions.Exit(UNTRUSTED_EXIT)


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
        api_key_env: str | None,
        concurrency: int,
        batch_size: int | None,
        judge_opts: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        kwargs["judge_options"] = build_judge_options(
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
            batch_size=batch_size,
            judge_opts=judge_opts,
            timeout_s=kwargs.pop("timeout_s", None),
            max_retries=kwargs.pop("max_retries", None),
            max_batch_tokens=kwargs.pop("max_batch_tokens", None),
        )
        return fn(*args, **kwargs)

    return wrapper


def build_judge_options(
    *,
    base_url: str | None,
    api_key_env: str | None,
    concurrency: int,
    batch_size: int | None,
    judge_opts: Sequence[str] = (),
    timeout_s: float | None = None,
    max_retries: int | None = None,
    max_batch_tokens: int | None = None,
) -> JudgeOptions:
    """``JudgeOptions`` from the CLI flags; a bad ``--judge-opt`` is a usage error naming it.

    ``batch_size`` None leaves each backend its own default (8 for hf, 256 for vllm, whose
    scheduler batches internally and gains from big calls). ``api_key_env`` None leaves the
    field unset, so that litellm reads the provider's own variable; ``timeout_s`` and
    ``max_retries`` None keep the defaults.
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
    given = {
        "batch_size": batch_size,
        "api_key_env": api_key_env,
        "timeout_s": timeout_s,
        "max_retries": max_retries,
        "max_batch_tokens": max_batch_tokens,
    }
    fields: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    return JudgeOptions(base_url=base_url, concurrency=concurrency, engine=engine, **fields)


def ray_cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--ray [ADDRESS]``, ``--replicas``, ``--replica-cpus``, ``--replica-gpus`` as one
    ``ray_options`` argument (None without ``--ray``).

    Put it right under ``@click.command()``, like :func:`collects_judge_options`.
    """

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        ray_address: str | None,
        replicas: int,
        replica_cpus: float,
        replica_gpus: float,
        **kwargs: Any,
    ) -> Any:
        ray_options = None
        if ray_address is not None:
            # Imported only with --ray: it imports Ray, an optional extra.
            from judgekit.errors import ConfigError
            from judgekit.runs.ray_exec import RayOptions

            try:
                ray_options = RayOptions(
                    address=ray_address,
                    replicas=replicas,
                    replica_cpus=replica_cpus,
                    replica_gpus=replica_gpus,
                )
            except ConfigError as exc:
                raise click.BadParameter(str(exc), param_hint="'--ray'") from None
        kwargs["ray_options"] = ray_options
        return fn(*args, **kwargs)

    options = [
        click.option(
            "--ray",
            "ray_address",
            is_flag=False,
            flag_value="local",
            default=None,
            metavar="[ADDRESS]",
            help="Judge on a Ray cluster: auto joins the running one, ray://HOST:PORT a "
            "remote one, no value starts a local one (pip install 'judgekit[ray]').",
        ),
        click.option(
            "--replicas",
            default=2,
            show_default=True,
            type=click.IntRange(min=1),
            help="With --ray: judge replicas (model copies, or API tasks in flight).",
        ),
        click.option(
            "--replica-cpus",
            default=1.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="With --ray: CPUs reserved per replica.",
        ),
        click.option(
            "--replica-gpus",
            default=0.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="With --ray: GPUs per replica (1 for a vllm replica per GPU).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@contextlib.contextmanager
def judge_on_cluster(
    judge_id: str,
    *,
    judge_options: JudgeOptions | None,
    ray_options: RayOptions | None,
) -> Iterator[str | Judge]:
    """The judge id as is, or, with ``--ray``, its replicas on the cluster (stopped on exit)."""
    if ray_options is None:
        yield judge_id
        return
    from judgekit.runs.ray_exec import RayJudge

    with RayJudge(judge_id, options=judge_options, ray_options=ray_options) as judge:
        yield judge


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
