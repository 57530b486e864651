"""Read queries for grading and checklist runs: scores, checklists, answers, mean leaderboards.

Like :mod:`judgekit.store.queries`, every function takes a Store and returns a DataFrame.
"""

from __future__ import annotations

import json

import pandas as pd

from judgekit.errors import StoreError
from judgekit.store.db import Store


def _frame(store: Store, sql: str, params: list[object]) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params).df()


def scores(store: Store, *, run_id: str, criterion: str | None = None) -> pd.DataFrame:
    """Per-response scores of a grade or checklist run, distributions decoded."""
    sql = (
        "SELECT prompt_id, model, criterion, score, distribution, status, raw, error, "
        "request_hash FROM scores WHERE run_id = ?"
    )
    params: list[object] = [run_id]
    if criterion is not None:
        sql += " AND criterion = ?"
        params.append(criterion)
    frame = _frame(store, sql + " ORDER BY prompt_id, model, criterion", params)
    frame["distribution"] = frame["distribution"].map(lambda v: json.loads(v) if v else None)
    return frame


def score_leaderboard(store: Store, *, run_id: str, prefix: str = "mean") -> pd.DataFrame:
    """Mean scores per model and criterion stored by a grade (``mean``) or checklist
    (``checklist``) run: criterion, rank, model, score, ci_low, ci_high, n."""
    frame = _frame(
        store,
        "SELECT substr(method, length(?) + 2) AS criterion, rank, model, rating AS score, "
        "ci_low, ci_high, n FROM ratings WHERE run_id = ? AND starts_with(method, ? || ':') "
        "ORDER BY criterion, rank, model",
        [prefix, run_id, prefix],
    )
    if frame.empty:
        raise StoreError(f"{store.path}: run {run_id!r} has no {prefix!r} scores")
    return frame


def checklists(store: Store, *, run_id: str) -> pd.DataFrame:
    """The checklists a run used: one row per (prompt, question)."""
    return _frame(
        store,
        "SELECT prompt_id, question_index, question, weight, source, generator, request_hash "
        "FROM checklists WHERE run_id = ? ORDER BY prompt_id, question_index",
        [run_id],
    )


def checklist_answers(store: Store, *, run_id: str) -> pd.DataFrame:
    """Every (response, question) answer of a checklist run, with its question text."""
    return _frame(
        store,
        "SELECT a.prompt_id, a.model, a.question_index, c.question, c.weight, a.p_yes, a.answer, "
        "a.status, a.raw, a.error, a.request_hash FROM checklist_answers a "
        "JOIN checklists c USING (run_id, prompt_id, question_index) WHERE a.run_id = ? "
        "ORDER BY a.prompt_id, a.model, a.question_index",
        [run_id],
    )


def failure_counts(store: Store, *, run_id: str) -> pd.DataFrame:
    """Scores per criterion and status of a run, for the failure counts of a report."""
    return _frame(
        store,
        "SELECT criterion, status, count(*) AS n FROM scores WHERE run_id = ? "
        "GROUP BY criterion, status ORDER BY criterion, status",
        [run_id],
    )
