"""Shared CLI helpers: leaderboard tables and JSON output."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

stdout = Console()
stderr = Console(stderr=True)


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def leaderboard_table(board: pd.DataFrame, *, title: str | None = None) -> Table:
    """A rich table: rank, model, rating, 95 % CI, win rate, comparisons."""
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
