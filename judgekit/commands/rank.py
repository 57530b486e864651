"""``judgekit rank``: rank models from a file of pairwise battles and print the leaderboard."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

from judgekit.commands.common import leaderboard_table, print_json, stdout
from judgekit.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from judgekit.rank.data import PairwiseData
    from judgekit.rank.grouped import GroupedPairwiseData

METHODS = ("bt", "elo", "pl", "bt-style", "openskill")
#: Bootstrap rounds (shuffles for Elo) when --bootstrap is not given.
DEFAULT_ROUNDS = {"bt": 1000, "elo": 100, "pl": 100, "bt-style": 0, "openskill": 0}


def _parse_anchor(value: str | None) -> str | tuple[str, float] | None:
    if value is None:
        return None
    name, sep, rating = value.rpartition("=")
    if not sep:
        return value
    try:
        return name, float(rating)
    except ValueError:
        raise ConfigError(f"--anchor takes MODEL or MODEL=RATING, not {value!r}") from None


def _json_safe(value: Any) -> Any:
    """Extras without arrays (the bootstrap replicates) and with finite floats only."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    import numpy as np  # here, not at the top: `judgekit rank --help` must start fast

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def rank_battles(
    path: str,
    *,
    method: str = "bt",
    ties: str = "half",
    rounds: int | None = None,
    ci: str | None = None,
    anchor: str | tuple[str, float] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a battle file and rank it: the leaderboard frame and the ranker's extras."""
    from judgekit.inputs.battles import load_battles, load_grouped_battles
    from judgekit.rank import (
        bradley_terry,
        elo,
        openskill_ratings,
        plackett_luce,
        ratings_frame,
        style_controlled_bt,
    )
    from judgekit.rank.leaderboard import win_rates

    # Bradley-Terry ignores the order of the battles, so it can take the file grouped into
    # distinct rows; any other ranker, or a file the grouped reader declines, reads every row.
    data: PairwiseData | GroupedPairwiseData | None = None
    if method == "bt":
        data = load_grouped_battles(path)
    if data is None:
        data = load_battles(path, style=method == "bt-style")
    n_rounds = DEFAULT_ROUNDS[method] if rounds is None else rounds
    if rounds is None and ci == "sandwich":
        n_rounds = 0  # sandwich CIs need no bootstrap
    if method == "bt":
        ratings = bradley_terry(
            data,
            ties=ties,
            anchor=anchor,
            bootstrap=n_rounds,
            ci=ci,
            seed=seed,  # type: ignore[arg-type]
        )
    elif method == "elo":
        ratings = elo(data, shuffles=n_rounds, seed=seed, anchor=anchor)
    elif method == "pl":
        ratings = plackett_luce(data, bootstrap=n_rounds, seed=seed, anchor=anchor)
    elif method == "bt-style":
        ratings = style_controlled_bt(data, bootstrap=n_rounds, seed=seed, anchor=anchor)
    else:
        ratings = openskill_ratings(data, anchor=anchor)
    board = ratings_frame(ratings).merge(win_rates(data), on="model", how="left")
    extras = {k: v for k, v in ratings.extras.items() if k != "bootstrap_ratings"}
    return board, {"method": ratings.method, **extras}


def _notes(info: dict[str, Any]) -> list[str]:
    lines = []
    tie = info.get("tie_parameter")
    if tie:
        lines.append("Tie parameter: " + ", ".join(f"{k} = {v}" for k, v in tie.items()))
    coefficients = info.get("style_coefficients")
    if coefficients:
        lines.append(
            "Style coefficients (logit per SD): "
            + ", ".join(f"{k} {v:+.3f}" for k, v in coefficients.items())
        )
    for model, why in (info.get("not_identifiable") or {}).items():
        lines.append(f"Not identifiable: {model} ({why})")
    dropped = info.get("dropped_ties")
    if dropped:
        lines.append(f"Plackett-Luce dropped {dropped} ties (a strict ranking cannot hold one).")
    return lines


@click.command("rank")
@click.argument("battles", type=click.Path(dir_okay=False))
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="bt",
    show_default=True,
    help="bt: Bradley-Terry; elo: online Elo over shuffled orders; pl: Plackett-Luce; "
    "bt-style: style-controlled BT; openskill: Bayesian online ratings.",
)
@click.option(
    "--ties",
    type=click.Choice(["half", "davidson", "rao-kupper"]),
    default="half",
    show_default=True,
    help="Tie model for bt: half a win each, or a fitted Davidson / Rao-Kupper parameter.",
)
@click.option(
    "--bootstrap",
    "rounds",
    type=click.IntRange(min=0),
    default=None,
    help="Bootstrap rounds (Elo: shuffled orders). Default: bt 1000, elo 100, pl 100, "
    "bt-style 0 (sandwich CIs).",
)
@click.option(
    "--ci",
    type=click.Choice(["bootstrap", "sandwich"]),
    default=None,
    help="CI method for bt (default: bootstrap when rounds > 0).",
)
@click.option("--anchor", default=None, help="MODEL or MODEL=RATING (default: mean 1000).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
@click.option(
    "--db",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also store the leaderboard as a run in this DuckDB file.",
)
def rank(
    battles: str,
    method: str,
    ties: str,
    rounds: int | None,
    ci: str | None,
    anchor: str | None,
    seed: int,
    as_json: bool,
    db: str | None,
) -> None:
    """Rank models from BATTLES, a CSV, JSONL, JSON or Parquet file of pairwise outcomes.

    Columns: model_a, model_b, winner (model_a, model_b, tie or "tie (bothbad)") and an
    optional weight, as in Chatbot Arena's battle data. CIs are 95 %; the rank is CI-aware
    (1 + the number of models that are clearly better).
    """
    if method != "bt" and (ties != "half" or ci is not None):
        raise click.UsageError("--ties and --ci apply to --method bt only")
    board, info = rank_battles(
        battles,
        method=method,
        ties=ties,
        rounds=rounds,
        ci=ci,
        anchor=_parse_anchor(anchor),
        seed=seed,
    )
    run_id = None
    if db is not None:
        from judgekit.store.db import open_store

        config = {
            "battles": battles,
            "method": method,
            "ties": ties,
            "bootstrap": rounds,
            "ci": ci,
            "anchor": anchor,
            "seed": seed,
        }
        with open_store(db) as store:
            run_id = store.create_run(kind="rank", config=config)
            store.write_ratings(run_id=run_id, method=info["method"], frame=board)
            store.finish_run(run_id, stats={"models": len(board)})
    if as_json:
        records = json.loads(board.to_json(orient="records"))
        print_json(
            {
                "run_id": run_id,
                "method": info["method"],
                "leaderboard": records,
                "extras": _json_safe(info),
            }
        )
        return
    title = f"Leaderboard · {info['method']} · {battles}"
    stdout.print(leaderboard_table(board, title=title))
    for line in _notes(info):
        stdout.print(line)
    if run_id is not None:
        stdout.print(f"Stored as run {run_id} in {db}")
