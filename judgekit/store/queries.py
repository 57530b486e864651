"""The read API over a store, shared by the CLI, the library and the dashboard.

Every function takes a :class:`~judgekit.store.db.Store` and returns a pandas DataFrame (or a
plain value); callers never write SQL of their own.
"""

from __future__ import annotations

import json

import pandas as pd

from judgekit.errors import StoreError
from judgekit.store.db import Store


def _frame(store: Store, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params or []).df()


def runs(store: Store) -> pd.DataFrame:
    """All runs, newest first, with their config and stats decoded."""
    frame = _frame(
        store,
        "SELECT run_id, kind, status, config, stats, started_at, finished_at FROM runs "
        "ORDER BY started_at DESC",
    )
    for column in ("config", "stats"):
        # A running run has no stats yet: DuckDB gives NULL, which pandas reads as NaN.
        frame[column] = frame[column].map(lambda v: json.loads(v) if isinstance(v, str) else {})
    return frame


def latest_run_id(store: Store, *, kind: str | None = None) -> str:
    """The newest finished run, optionally of one kind."""
    sql = "SELECT run_id FROM runs WHERE status = 'finished'"
    params: list[object] = []
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    with store.connect() as con:
        row = con.execute(sql + " ORDER BY finished_at DESC LIMIT 1", params).fetchone()
    if row is None:
        raise StoreError(f"{store.path}: no finished run yet")
    return str(row[0])


def leaderboard(store: Store, *, run_id: str | None = None, method: str = "bt") -> pd.DataFrame:
    """The stored ratings of one run and method, best first."""
    run_id = run_id or latest_run_id(store)
    frame = _frame(
        store,
        "SELECT rank, model, rating, ci_low, ci_high, win_rate, n, identifiable "
        "FROM ratings WHERE run_id = ? AND method = ? ORDER BY rating DESC",
        [run_id, method],
    )
    if frame.empty:
        raise StoreError(f"{store.path}: run {run_id!r} has no {method!r} ratings")
    return frame


def rated_turns(store: Store, *, run_id: str, method: str = "bt") -> list[int]:
    """The turns of a multi-turn run with their own ``<method>@turn<k>`` ratings, in order."""
    frame = _frame(
        store,
        "SELECT DISTINCT method FROM ratings WHERE run_id = ? AND starts_with(method, ?)",
        [run_id, f"{method}@turn"],
    )
    suffixes = [m[len(method) + len("@turn") :] for m in frame["method"]]
    return sorted(int(s) for s in suffixes if s.isdigit())


def outcomes(store: Store, *, run_id: str) -> pd.DataFrame:
    """Per-comparison outcomes of a run, with the conversation turn each one judged."""
    return _frame(
        store,
        "SELECT prompt_id, model_a, model_b, win_a, win_b, tie, flipped, status, turn "
        "FROM outcomes WHERE run_id = ? ORDER BY prompt_id, turn, model_a, model_b",
        [run_id],
    )


def verdicts(store: Store, *, run_id: str) -> pd.DataFrame:
    """Per-order verdicts of a run, with the judge's raw text."""
    return _frame(
        store,
        "SELECT prompt_id, model_a, model_b, position_order, status, p_first, p_second, p_tie, "
        "discrete, raw, error, request_hash, turn FROM verdicts WHERE run_id = ? "
        "ORDER BY prompt_id, turn, model_a, model_b, position_order",
        [run_id],
    )


def judge_calls(store: Store, *, judge_id: str | None = None) -> pd.DataFrame:
    """Stored judge calls (optionally of one judge), without the prompt text."""
    sql = (
        "SELECT request_hash, judge_id, status, error, latency_s, prompt_tokens, "
        "completion_tokens, cost, attempts, created_at FROM judge_calls"
    )
    params: list[object] = []
    if judge_id is not None:
        sql += " WHERE judge_id = ?"
        params.append(judge_id)
    return _frame(store, sql + " ORDER BY created_at", params)
