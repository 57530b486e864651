"""Multi-turn runs: plan every turn of a conversation, store turns, rank per turn.

A prompt with N turns is judged N times per pair (or per answer): turn 1 like a single-turn
prompt, turn k with turns 1..k in view. Verdicts, outcomes and scores carry their ``turn``.
Ratings are stored for all turns pooled under the usual method name and for each turn under
``<method>@turn<k>`` (:func:`turn_method`), so that boards can be shown per turn and overall,
as MT-Bench shows its single-answer grades.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from judgekit.errors import ConfigError
from judgekit.inputs.outputs import OutputSet
from judgekit.plan import Comparison
from judgekit.protocols.turns import later_turns
from judgekit.types import Item

ALL_TURNS = "all"


def turn_method(method: str, turn: int | None) -> str:
    """The ratings method of one turn's board (``bt@turn2``); ``turn=None``: all turns."""
    return method if turn is None else f"{method}@turn{turn}"


def n_turns(data: OutputSet) -> int:
    """The most turns any prompt of ``data`` has (1 for single-turn data)."""
    return max((item.n_turns for item in data.items.values()), default=1)


def refuse_multi_turn(data: OutputSet, *, feature: str) -> None:
    """Stop before judging when ``feature`` would see only the first turn of conversations.

    Raises:
        ConfigError: some prompt is a conversation of several turns.
    """
    if data.multi_turn:
        raise ConfigError(
            f"{feature} judges single turns, and these outputs hold multi-turn conversations; "
            "use the pairwise protocol (`judgekit compare`, all-pairs, baseline or sample "
            "schedules) or `judgekit grade`, which judge every turn"
        )


def with_later_turns(
    comparisons: Sequence[Comparison], items: Mapping[str, Item]
) -> list[Comparison]:
    """Each comparison, followed by the same pair at every later turn of its prompt."""
    out: list[Comparison] = []
    for comp in comparisons:
        out.append(comp)
        for turn in later_turns(items[comp.prompt_id]):
            out.append(Comparison(comp.prompt_id, comp.model_a, comp.model_b, turn=turn))
    return out


def add_turn_columns(tables: dict[str, pd.DataFrame], data: OutputSet) -> dict[str, pd.DataFrame]:
    """Add the conversations (JSON lists) to a run's ``items`` and ``candidates`` rows."""
    if not data.multi_turn:
        return tables
    items = tables["items"]
    by_id = data.items
    items["turns"] = [_json_list(by_id[p].turns) for p in items["prompt_id"]]
    items["reference_turns"] = [_json_list(by_id[p].reference_turns) for p in items["prompt_id"]]
    cands = {(c.prompt_id, c.model): c for c in data.candidates}
    frame = tables["candidates"]
    frame["turns"] = [
        _json_list(cands[(p, m)].turns)
        for p, m in zip(frame["prompt_id"], frame["model"], strict=True)
    ]
    return tables


def _json_list(values: Sequence[str]) -> str | None:
    return json.dumps(list(values), ensure_ascii=False) if values else None


def per_turn_boards(
    frame: pd.DataFrame, build: Callable[[pd.DataFrame], pd.DataFrame]
) -> dict[int, pd.DataFrame]:
    """``{turn: board}`` for every turn in ``frame`` when it holds more than one turn."""
    if "turn" not in frame or frame["turn"].nunique() < 2:
        return {}
    return {
        int(turn): build(frame[frame["turn"] == turn].reset_index(drop=True))
        for turn in sorted(frame["turn"].unique())
    }


def turn_rows(boards: Mapping[int, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per-turn boards as JSON records, each with its ``turn``."""
    rows: list[dict[str, Any]] = []
    for turn, board in sorted(boards.items()):
        for record in json.loads(board.to_json(orient="records")):
            rows.append({"turn": turn, **record})
    return rows


def parse_turn(value: str) -> int | None:
    """``--turn`` as given: a turn number, or None for ``all``.

    Raises:
        ConfigError: neither ``all`` nor a positive whole number.
    """
    if value == ALL_TURNS:
        return None
    try:
        turn = int(value)
    except ValueError:
        turn = 0
    if turn < 1:
        raise ConfigError(f"--turn {value!r}: use a turn number (1, 2, ...) or 'all'")
    return turn
