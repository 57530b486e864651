"""The ``judgekit`` command line: a thin layer that parses options, calls the library, prints.

Library errors (:class:`~judgekit.errors.JudgekitError`) become one clear line on stderr and
exit code 1; Ctrl-C stops cleanly, says how to resume, and exits 130.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from judgekit import __version__
from judgekit.commands.common import stderr
from judgekit.errors import JudgekitError

RESUME_HINT = (
    "Interrupted. Judge calls finished so far are stored; run the same command again to "
    "resume where it stopped."
)


class JudgekitGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JudgekitError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            stderr.print(f"[yellow]{RESUME_HINT}[/yellow]", soft_wrap=True)
            raise click.exceptions.Exit(130) from None


@click.group(cls=JudgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="judgekit")
@click.option("-v", "--verbose", is_flag=True, help="Log more detail to stderr.")
def cli(verbose: bool) -> None:
    """judgekit: evaluate LLMs with LLM judges and rank them in arenas."""
    # A handler of our own, bound to the stderr of this invocation, so warnings such as
    # skipped prompts reach the user whatever logging set-up the host process has.
    logger = logging.getLogger("judgekit")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
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
