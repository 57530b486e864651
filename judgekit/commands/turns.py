"""``--turn 1|2|...|all``: which boards of a multi-turn run ``compare``, ``grade`` and
``leaderboard`` print, as MT-Bench prints its first turn, second turn and average."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click
import pandas as pd

from judgekit.errors import ConfigError

F = Callable[..., Any]


class TurnType(click.ParamType):
    """A turn number (1, 2, ...) or ``all``; converts to an int, or None for all."""

    name = "1|2|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, int):
            return value
        from judgekit.runs.turns import parse_turn

        try:
            return parse_turn(str(value).strip().lower())
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


def turn_option(fn: F) -> F:
    """The ``--turn`` option shared by compare, grade and leaderboard."""
    return click.option(
        "--turn",
        "turn",
        type=TurnType(),
        metavar="1|2|all",
        default="all",
        show_default=True,
        help="Multi-turn outputs: show the board of one turn, or 'all': every turn's board "
        "and the board of all turns together.",
    )(fn)


def chosen_boards(
    overall: pd.DataFrame, per_turn: Mapping[int, pd.DataFrame], turn: int | None
) -> list[tuple[int | None, pd.DataFrame]]:
    """``(turn, board)`` pairs to show: each turn then all turns (None), or just ``turn``.

    Single-turn runs have no per-turn boards; their one board is turn 1's.

    Raises:
        click.UsageError: the run has no such turn.
    """
    if turn is None:
        return [*sorted(per_turn.items()), (None, overall)]
    if turn in per_turn:
        return [(turn, per_turn[turn])]
    if not per_turn and turn == 1:
        return [(1, overall)]
    have = max(per_turn, default=1)
    raise click.UsageError(
        f"--turn {turn}: this run has {have} turn(s); its results are stored, so "
        "`judgekit leaderboard --turn all` shows them without judging again"
    )


def board_title(base: str, turn: int | None, *, multi_turn: bool) -> str:
    """``base`` with the turn named when the run has several turns."""
    if not multi_turn:
        return base
    return f"{base} · {'all turns' if turn is None else f'turn {turn}'}"


def turn_payload(
    payload: dict[str, Any], boards: list[tuple[int | None, pd.DataFrame]], turn: int | None
) -> dict[str, Any]:
    """The ``--json`` payload for one turn: its board replaces ``leaderboard``."""
    if turn is None:
        return payload
    import json

    # One turn's board holds its criterion means as columns; the long "criteria" table of
    # grade covers all turns, so it is left out with the other turns' rows.
    out = {k: v for k, v in payload.items() if k not in ("per_turn", "criteria")}
    out["turn"] = turn
    out["leaderboard"] = json.loads(boards[0][1].to_json(orient="records"))
    return out
