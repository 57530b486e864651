"""``judgekit leaderboard``: print a stored leaderboard."""

from __future__ import annotations

import json

import click

from judgekit.commands.common import leaderboard_table, print_json, stderr, stdout
from judgekit.commands.turns import board_title, chosen_boards, turn_option


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
@turn_option
def leaderboard(db: str, run_id: str | None, method: str, as_json: bool, turn: int | None) -> None:
    """Print the leaderboard of a stored run without judging anything, with its trust line.

    A multi-turn run has a board per turn and one for all turns together; --turn picks.
    """
    from judgekit.quality.trust import TrustReport
    from judgekit.runs.turns import turn_method, turn_rows
    from judgekit.store import queries
    from judgekit.store.db import open_store
    from judgekit.store.trust_queries import load_trust
    from judgekit.views.trust_line import print_trust

    with open_store(db, read_only=True) as store:
        run_id = run_id or queries.latest_run_id(store)
        board = queries.leaderboard(store, run_id=run_id, method=method)
        per_turn = {
            k: queries.leaderboard(store, run_id=run_id, method=turn_method(method, k))
            for k in queries.rated_turns(store, run_id=run_id, method=method)
        }
        stored = load_trust(store, run_id)
    trust = None if stored is None else TrustReport.from_dict(stored)
    boards = chosen_boards(board, per_turn, turn)
    if as_json:
        payload: dict[str, object] = {"run_id": run_id}
        if turn is not None:
            payload["turn"] = turn
        payload["leaderboard"] = json.loads(boards[-1][1].to_json(orient="records"))
        if turn is None and per_turn:
            payload["per_turn"] = turn_rows(per_turn)
        if trust is not None:
            payload["trust"] = trust.to_dict()
        print_json(payload)
        return
    for shown, shown_board in boards:
        title = board_title(
            f"Leaderboard · run {run_id} · {method}", shown, multi_turn=bool(per_turn)
        )
        stdout.print(leaderboard_table(shown_board, title=title))
    print_trust(trust, out=stdout, err=stderr)
