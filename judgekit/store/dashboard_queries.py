"""Read queries behind the dashboard: runs, outcomes with context, per-prompt detail, usage.

Like :mod:`judgekit.store.queries`, every function takes a
:class:`~judgekit.store.db.Store` and returns a DataFrame or a plain value. The dashboard holds
no SQL of its own; the computations on top of these reads live in :mod:`judgekit.views`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from judgekit.store.db import Store
from judgekit.store.migrations import schema_state as _schema_state

#: The table that holds human preference labels per run (``judgekit meta --human FILE``
#: stores them): ``run_id``, ``prompt_id``, ``model_a``, ``model_b``, ``winner``
#: (``model_a``, ``model_b`` or ``tie``), ``annotator`` and ``weight``.
HUMAN_LABELS_TABLE = "meta_human_labels"
HUMAN_LABEL_COLUMNS = ("prompt_id", "model_a", "model_b", "winner")


def _frame(store: Store, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params or []).df()


def schema_state(store: Store) -> str:
    """``"empty"``, ``"current"``, ``"old"`` or ``"newer"``: how the store's schema compares."""
    with store.connect() as con:
        return _schema_state(con)


def table_names(store: Store) -> set[str]:
    """The tables of the store's main schema."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    return {str(row[0]) for row in rows}


def _decode(value: Any) -> dict[str, Any]:
    # DuckDB hands a NULL in a JSON column over as None or NaN depending on its neighbours.
    return json.loads(value) if isinstance(value, str) and value else {}


def runs(store: Store) -> pd.DataFrame:
    """All runs, newest first, config and stats decoded (``{}`` while a run has none yet)."""
    frame = _frame(
        store,
        "SELECT run_id, kind, status, config, stats, started_at, finished_at FROM runs "
        "ORDER BY started_at DESC",
    )
    for column in ("config", "stats"):
        frame[column] = frame[column].map(_decode)
    return frame


def run_info(store: Store, *, run_id: str) -> dict[str, Any] | None:
    """One run with its config and stats decoded, or None when there is no such run."""
    frame = _frame(
        store,
        "SELECT run_id, kind, status, config, versions, stats, started_at, finished_at "
        "FROM runs WHERE run_id = ?",
        [run_id],
    )
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    for key in ("config", "versions", "stats"):
        row[key] = _decode(row[key])
    return row


def rating_methods(store: Store, *, run_id: str) -> list[str]:
    """The rating methods stored for a run (``bt``, ``mean:helpfulness``, ...), sorted."""
    frame = _frame(
        store, "SELECT DISTINCT method FROM ratings WHERE run_id = ? ORDER BY method", [run_id]
    )
    return [str(m) for m in frame["method"]]


def ratings(store: Store, *, run_id: str, method: str) -> pd.DataFrame:
    """Stored ratings of one run and method, best first (empty when there are none)."""
    return _frame(
        store,
        "SELECT rank, model, rating, ci_low, ci_high, win_rate, n, identifiable FROM ratings "
        "WHERE run_id = ? AND method = ? ORDER BY rating DESC, model",
        [run_id, method],
    )


def run_models(store: Store, *, run_id: str) -> list[str]:
    """The models of a run: those with candidates, else those with ratings, sorted."""
    frame = _frame(
        store,
        "SELECT DISTINCT model FROM candidates WHERE run_id = ? "
        "UNION SELECT DISTINCT model FROM ratings WHERE run_id = ? ORDER BY model",
        [run_id, run_id],
    )
    return [str(m) for m in frame["model"]]


def categories(store: Store, *, run_id: str) -> list[str]:
    """The prompt categories of a run (prompts without one are left out), sorted."""
    frame = _frame(
        store,
        "SELECT DISTINCT category FROM items WHERE run_id = ? AND category IS NOT NULL "
        "ORDER BY category",
        [run_id],
    )
    return [str(c) for c in frame["category"]]


def pairwise_outcomes(
    store: Store, *, run_id: str, category: str | None = None, texts: bool = False
) -> pd.DataFrame:
    """Per-comparison outcomes of a run with the prompt's category and both answers' lengths.

    Columns: prompt_id, category, model_a, model_b, win_a, win_b, tie, flipped, status,
    len_a, len_b (characters), and with ``texts=True`` also output_a and output_b.
    """
    text_cols = ", ca.output AS output_a, cb.output AS output_b" if texts else ""
    sql = (
        "SELECT o.prompt_id, i.category, o.model_a, o.model_b, o.win_a, o.win_b, o.tie, "
        "o.flipped, o.status, length(ca.output) AS len_a, length(cb.output) AS len_b"
        f"{text_cols} FROM outcomes o "
        "LEFT JOIN items i ON i.run_id = o.run_id AND i.prompt_id = o.prompt_id "
        "LEFT JOIN candidates ca ON ca.run_id = o.run_id AND ca.prompt_id = o.prompt_id "
        "AND ca.model = o.model_a "
        "LEFT JOIN candidates cb ON cb.run_id = o.run_id AND cb.prompt_id = o.prompt_id "
        "AND cb.model = o.model_b WHERE o.run_id = ?"
    )
    params: list[object] = [run_id]
    if category is not None:
        sql += " AND i.category = ?"
        params.append(category)
    return _frame(store, sql + " ORDER BY o.prompt_id, o.model_a, o.model_b", params)


def verdict_probabilities(store: Store, *, run_id: str) -> pd.DataFrame:
    """Per-order verdicts of a run without their text: position_order, status, p_first,
    p_second, p_tie, discrete."""
    return _frame(
        store,
        "SELECT prompt_id, model_a, model_b, position_order, status, p_first, p_second, p_tie, "
        "discrete FROM verdicts WHERE run_id = ? ORDER BY prompt_id, model_a, model_b, "
        "position_order",
        [run_id],
    )


def score_rows(store: Store, *, run_id: str, category: str | None = None) -> pd.DataFrame:
    """Per-response scores of a grade or checklist run with the prompt's category."""
    sql = (
        "SELECT s.prompt_id, i.category, s.model, s.criterion, s.score, s.status FROM scores s "
        "LEFT JOIN items i ON i.run_id = s.run_id AND i.prompt_id = s.prompt_id "
        "WHERE s.run_id = ?"
    )
    params: list[object] = [run_id]
    if category is not None:
        sql += " AND i.category = ?"
        params.append(category)
    return _frame(store, sql + " ORDER BY s.prompt_id, s.model, s.criterion", params)


def run_calls(store: Store, *, run_id: str) -> pd.DataFrame:
    """The judge calls a run used (pairwise verdicts, scores, checklists and their answers):
    judge_id, status, latency_s, prompt_tokens, completion_tokens, cost, attempts."""
    return _frame(
        store,
        """
        WITH used AS (
            SELECT request_hash FROM verdicts WHERE run_id = ?
            UNION SELECT request_hash FROM scores WHERE run_id = ? AND request_hash IS NOT NULL
            UNION SELECT request_hash FROM checklists WHERE run_id = ?
                AND request_hash IS NOT NULL
            UNION SELECT request_hash FROM checklist_answers WHERE run_id = ?
                AND request_hash IS NOT NULL
        )
        SELECT c.judge_id, c.status, c.latency_s, c.prompt_tokens, c.completion_tokens, c.cost,
               c.attempts
        FROM judge_calls c JOIN used USING (request_hash)
        ORDER BY c.judge_id
        """,
        [run_id, run_id, run_id, run_id],
    )


def prompts(store: Store, *, run_id: str) -> pd.DataFrame:
    """The prompts of a run: prompt_id, category, prompt."""
    return _frame(
        store,
        "SELECT prompt_id, category, prompt FROM items WHERE run_id = ? ORDER BY prompt_id",
        [run_id],
    )


def item(store: Store, *, run_id: str, prompt_id: str) -> dict[str, Any] | None:
    """One prompt of a run (prompt, reference, category), or None."""
    frame = _frame(
        store,
        "SELECT prompt_id, prompt, reference, category FROM items "
        "WHERE run_id = ? AND prompt_id = ?",
        [run_id, prompt_id],
    )
    return None if frame.empty else frame.iloc[0].to_dict()


def prompt_candidates(store: Store, *, run_id: str, prompt_id: str) -> pd.DataFrame:
    """Each model's answer to one prompt: model, output."""
    return _frame(
        store,
        "SELECT model, output FROM candidates WHERE run_id = ? AND prompt_id = ? ORDER BY model",
        [run_id, prompt_id],
    )


def prompt_verdicts(store: Store, *, run_id: str, prompt_id: str) -> pd.DataFrame:
    """Both per-order verdicts of every comparison on one prompt, with the judge's reply.

    Columns: model_a, model_b, position_order, status, p_first, p_second, p_tie, discrete,
    raw (the judge's text), error, judge_id, latency_s.
    """
    return _frame(
        store,
        "SELECT v.model_a, v.model_b, v.position_order, v.status, v.p_first, v.p_second, "
        "v.p_tie, v.discrete, v.raw, v.error, c.judge_id, c.latency_s FROM verdicts v "
        "LEFT JOIN judge_calls c USING (request_hash) WHERE v.run_id = ? AND v.prompt_id = ? "
        "ORDER BY v.model_a, v.model_b, v.position_order",
        [run_id, prompt_id],
    )


def prompt_outcomes(store: Store, *, run_id: str, prompt_id: str) -> pd.DataFrame:
    """The order-free outcomes of the comparisons on one prompt."""
    return _frame(
        store,
        "SELECT model_a, model_b, win_a, win_b, tie, flipped, status FROM outcomes "
        "WHERE run_id = ? AND prompt_id = ? ORDER BY model_a, model_b",
        [run_id, prompt_id],
    )


def prompt_scores(store: Store, *, run_id: str, prompt_id: str) -> pd.DataFrame:
    """Scores of every answer to one prompt (grade and checklist runs), with the judge text."""
    return _frame(
        store,
        "SELECT model, criterion, score, status, raw, error FROM scores "
        "WHERE run_id = ? AND prompt_id = ? ORDER BY model, criterion",
        [run_id, prompt_id],
    )


def prompt_checklist_answers(store: Store, *, run_id: str, prompt_id: str) -> pd.DataFrame:
    """Checklist questions of one prompt and each answer's reply to them."""
    return _frame(
        store,
        "SELECT a.model, a.question_index, c.question, c.weight, a.p_yes, a.answer, a.status, "
        "a.raw FROM checklist_answers a JOIN checklists c USING (run_id, prompt_id, "
        "question_index) WHERE a.run_id = ? AND a.prompt_id = ? "
        "ORDER BY a.model, a.question_index",
        [run_id, prompt_id],
    )


def human_labels(store: Store, *, run_id: str) -> pd.DataFrame | None:
    """The human preference labels stored for a run (prompt_id, model_a, model_b, winner,
    weight), or None when the store or the run has none."""
    if HUMAN_LABELS_TABLE not in table_names(store):
        return None
    frame = _frame(
        store,
        "SELECT prompt_id, model_a, model_b, winner, weight "
        f"FROM {HUMAN_LABELS_TABLE} WHERE run_id = ?",
        [run_id],
    )
    return None if frame.empty else frame


def outcome_count(store: Store, *, run_id: str) -> int:
    """How many pairwise outcomes a run stored (0 for grade-only and rank runs)."""
    with store.connect() as con:
        row = con.execute("SELECT count(*) FROM outcomes WHERE run_id = ?", [run_id]).fetchone()
    return int(row[0]) if row else 0
