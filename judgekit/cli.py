"""The ``judgekit`` command line: a thin layer that parses options, calls the library, prints.

Library errors (:class:`~judgekit.errors.JudgekitError`) become one clear line on stderr and
exit code 1; Ctrl-C and SIGTERM stop cleanly (answered calls stored, the run marked
interrupted), say how to resume, and exit 130. Any other exception is
a bug: it also becomes one line (exit 1), and ``--debug`` shows its Python traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from judgekit import __version__
from judgekit.commands.common import stderr
from judgekit.errors import JudgekitError

RESUME_HINT = (
    "Interrupted. Judge calls finished so far are stored; run the same command again to "
    "resume where it stopped."
)


DEBUG_HINT = "this is a bug in judgekit; run again with --debug to see the traceback"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler) stops a run as Ctrl-C does: the calls answered so
    far are stored, the run is marked interrupted, and the process exits 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class JudgekitGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except JudgekitError as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            stderr.print(f"[yellow]{RESUME_HINT}[/yellow]", soft_wrap=True)
            raise click.exceptions.Exit(130) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if _debug(ctx):
                raise
            text = " ".join(str(exc).split())[:300]
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {text} ({DEBUG_HINT})"
            ) from None


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.meta.get("judgekit.debug"))


# name -> ("module:attribute", short help). Commands are imported only when they run (or
# show their own --help), so that `judgekit --help` starts in a fraction of a second; the
# listing shows the short help given here, which tests/test_cli_startup.py checks against each
# command's own. A new command is one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "arena": ("judgekit.commands.arena:arena", "K-wise arenas: each round the judge ranks..."),
    "checklist": ("judgekit.commands.checklist:checklist", "Evaluate model OUTPUTS with YES/NO..."),
    "compare": (
        "judgekit.commands.compare:compare",
        "Compare model OUTPUTS pairwise with an LLM...",
    ),
    "constitution": (
        "judgekit.commands.constitution:constitution",
        "Extract a constitution from pairwise...",
    ),
    "dashboard": (
        "judgekit.commands.dashboard:dashboard",
        "Serve the dashboard (leaderboard, head to...",
    ),
    "export": ("judgekit.commands.formats:export", "Write a stored run's comparisons or..."),
    "grade": ("judgekit.commands.grade:grade", "Grade model OUTPUTS with a rubric and..."),
    "import": (
        "judgekit.commands.formats:import_",
        "Read peer-format files (FastChat MT-Bench,...",
    ),
    "judges": ("judgekit.commands.judges:judges", "Judge backends."),
    "leaderboard": (
        "judgekit.commands.leaderboard:leaderboard",
        "Print the leaderboard of a stored run...",
    ),
    "meta": ("judgekit.commands.meta:meta", "Print how far a judge can be trusted:..."),
    "rank": ("judgekit.commands.rank:rank", "Rank models from BATTLES, a CSV, JSONL,..."),
    "score": ("judgekit.commands.score:score", "Compute a peer's leaderboard from its..."),
    "rubrics": ("judgekit.commands.rubrics:rubrics", "Rubrics for `judgekit grade` (YAML in..."),
}


def load_command(name: str) -> click.Command:
    """Import and return the command registered as ``name``."""
    import importlib

    module, _, attr = COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module), attr)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


class LazyCommands(JudgekitGroup):
    """A group whose subcommands are imported on first use, from :data:`COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        command = load_command(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing alone must not import every command (and pandas, duckdb, rich...).
        rows = [
            (name, COMMANDS[name][1] if name in COMMANDS else "")
            for name in self.list_commands(ctx)
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="judgekit")
@click.option("-v", "--verbose", is_flag=True, help="Log more detail to stderr.")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the Python traceback of an error (normally one line), and log at debug level.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, debug: bool) -> None:
    """judgekit: evaluate LLMs with LLM judges and rank them in arenas."""
    ctx.meta["judgekit.debug"] = debug
    # A handler of our own, bound to the stderr of this invocation, so warnings such as
    # skipped prompts reach the user whatever logging set-up the host process has.
    logger = logging.getLogger("judgekit")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
