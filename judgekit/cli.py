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


@click.group(cls=JudgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from judgekit.commands.arena import arena
    from judgekit.commands.checklist import checklist
    from judgekit.commands.compare import compare
    from judgekit.commands.constitution import constitution
    from judgekit.commands.dashboard import dashboard
    from judgekit.commands.formats import export, import_
    from judgekit.commands.grade import grade
    from judgekit.commands.judges import judges
    from judgekit.commands.leaderboard import leaderboard
    from judgekit.commands.meta import meta
    from judgekit.commands.rank import rank
    from judgekit.commands.rubrics import rubrics
    from judgekit.commands.score import score

    for command in (
        arena,
        checklist,
        compare,
        constitution,
        dashboard,
        export,
        grade,
        import_,
        judges,
        leaderboard,
        meta,
        rank,
        rubrics,
        score,
    ):
        cli.add_command(command)


_register()
