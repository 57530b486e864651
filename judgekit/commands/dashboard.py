"""``judgekit dashboard``: serve the Streamlit dashboard over a store."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from judgekit.commands.common import stderr

INSTALL_HINT = (
    "The dashboard needs Streamlit and plotly: pip install 'judgekit[dashboard]' and run "
    "judgekit dashboard again."
)


def find_app() -> Path:
    """The dashboard's entry script, in a source checkout or in an installed wheel.

    Raises:
        click.ClickException: neither place has it.
    """
    package = Path(__file__).resolve().parent.parent
    candidates = [
        package.parent / "dashboards" / "app.py",  # a checkout: judgekit/ next to dashboards/
        package / "_data" / "dashboards" / "app.py",  # a wheel: shipped as package data
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise click.ClickException(
        "cannot find the dashboard app (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall judgekit"
    )


def streamlit_command(app: Path, *, db: str, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line that serves ``app`` over ``db``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        # No browser to open on a server, and no usage statistics sent anywhere.
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # A view to read and share: no deploy button or developer menu.
        "--client.toolbarMode",
        "viewer",
        "--theme.primaryColor",
        "#3b6fb6",
        "--",
        "--db",
        db,
    ]


@click.command()
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store to show (opened read-only).",
)
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 shares the dashboard on the network.",
)
def dashboard(db: str, port: int, host: str) -> None:
    """Serve the dashboard (leaderboard, head to head, judge quality, drill-down, runs).

    The store is opened read-only, so the dashboard can stay open while judgekit compare
    writes to the same file; it says when a run is in progress and refreshes as it lands.
    """
    if importlib.util.find_spec("streamlit") is None or importlib.util.find_spec("plotly") is None:
        raise click.ClickException(INSTALL_HINT)
    app = find_app()
    path = str(Path(db).expanduser().resolve())
    stderr.print(f"judgekit dashboard for {path} on http://{host}:{port} (Ctrl-C to stop)")
    argv = streamlit_command(app, db=path, host=host, port=port)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the Streamlit server rather than wait for a child: Ctrl-C and SIGTERM (from a
    # terminal, a supervisor or a test) then reach the server itself and leave no orphan.
    os.execv(argv[0], argv)
