"""``judgekit leaderboard``: print a stored leaderboard."""

from __future__ import annotations

import json

import click

from judgekit.commands.common import leaderboard_table, print_json, stderr, stdout


@click.command()
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store to read.",
)
@click.option("--run", "run_id", default=None, help="Run id (default: the latest finished run).")
@click.option("--method", default="bt", show_default=True, help="Rating method stored for the run.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
def leaderboard(db: str, run_id: str | None, method: str, as_json: bool) -> None:
    """Print the leaderboard of a stored run without judging anything."""
    from judgekit.quality.trust import TrustReport
    from judgekit.store import queries
    from judgekit.store.db import open_store
    from judgekit.store.trust_queries import load_trust
    from judgekit.views.trust import print_trust

    with open_store(db, read_only=True) as store:
        run_id = run_id or queries.latest_run_id(store)
        board = queries.leaderboard(store, run_id=run_id, method=method)
        stored = load_trust(store, run_id)
    trust = None if stored is None else TrustReport.from_dict(stored)
    if as_json:
        payload = {"run_id": run_id, "leaderboard": json.loads(board.to_json(orient="records"))}
        if trust is not None:
            payload["trust"] = trust.to_dict()
        print_json(payload)
    else:
        stdout.print(leaderboard_table(board, title=f"Leaderboard · run {run_id} · {method}"))
        print_trust(trust, out=stdout, err=stderr)
