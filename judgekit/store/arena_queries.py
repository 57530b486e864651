"""Read API over K-wise arenas and listwise verdicts, shared by the CLI, library and dashboard.

Every function takes a :class:`~judgekit.store.db.Store` and returns a DataFrame (or a plain
value); JSON columns come back decoded.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from judgekit.errors import StoreError
from judgekit.store.db import Store

_JSON_ROUND_COLUMNS = ("models", "shown", "ranking", "first_probs", "mu_after", "sigma_after")


def _frame(store: Store, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params or []).df()


def _decode(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = frame[column].map(lambda v: json.loads(v) if isinstance(v, str) else v)
    return frame


def arena_runs(store: Store) -> pd.DataFrame:
    """Arena runs, newest first: run id, name, status, rounds stored, budget and start time."""
    frame = _frame(
        store,
        "SELECT r.run_id, r.status, r.config, r.started_at, r.finished_at, "
        "count(a.round_index) AS rounds FROM runs r "
        "LEFT JOIN arena_rounds a USING (run_id) WHERE r.kind = 'arena' "
        "GROUP BY ALL ORDER BY r.started_at DESC",
    )
    config = frame["config"].map(lambda v: json.loads(v) if v else {})
    frame.insert(1, "name", config.map(lambda c: c.get("name")))
    frame.insert(4, "budget", config.map(lambda c: c.get("budget")))
    return frame.drop(columns="config")


def latest_arena_run(store: Store, *, name: str | None = None) -> str:
    """The newest arena run, optionally of one arena name.

    Raises:
        StoreError: the store has no such arena run.
    """
    runs = arena_runs(store)
    if name is not None:
        runs = runs[runs["name"] == name]
    if runs.empty:
        which = f" named {name!r}" if name else ""
        raise StoreError(f"{store.path}: no arena run{which} yet; run `judgekit arena run` first")
    return str(runs.iloc[0]["run_id"])


def arena_rounds(store: Store, *, run_id: str) -> pd.DataFrame:
    """All stored rounds of an arena, in round order, JSON columns decoded."""
    frame = _frame(
        store,
        "SELECT round_index, prompt_id, models, shown, request_hash, status, ranking, "
        "first_probs, raw, error, mu_after, sigma_after, created_at "
        "FROM arena_rounds WHERE run_id = ? ORDER BY round_index",
        [run_id],
    )
    return _decode(frame, _JSON_ROUND_COLUMNS)


def arena_state(store: Store, *, run_id: str) -> pd.DataFrame:
    """Each model's latest μ and σ (from the last round it played) and how many rounds
    ranked it (failed rounds, which move no rating, are not counted)."""
    rounds = arena_rounds(store, run_id=run_id)
    latest: dict[str, dict[str, Any]] = {}
    for row in rounds.itertuples(index=False):
        for model, mu in (row.mu_after or {}).items():
            entry = latest.setdefault(model, {"model": model, "rounds": 0})
            entry["mu"] = mu
            entry["sigma"] = row.sigma_after[model]
            # A failed round moved no rating; count the rounds that ranked the model.
            entry["rounds"] += int(row.status == "ok")
    frame = pd.DataFrame(list(latest.values()), columns=["model", "mu", "sigma", "rounds"])
    return frame.sort_values(["mu", "model"], ascending=[False, True]).reset_index(drop=True)


def listwise_verdicts(store: Store, *, run_id: str) -> pd.DataFrame:
    """Per-call listwise verdicts of a run, with the judge's raw text, JSON decoded."""
    frame = _frame(
        store,
        "SELECT prompt_id, list_index, permutation_index, shown, status, ranking, first_probs, "
        "discrete, raw, error, request_hash FROM listwise_verdicts WHERE run_id = ? "
        "ORDER BY prompt_id, list_index, permutation_index",
        [run_id],
    )
    return _decode(frame, ("shown", "ranking", "first_probs"))
