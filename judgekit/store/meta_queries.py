"""Store reads and writes behind the judge-quality report, human labels and judge panels.

Like :mod:`judgekit.store.queries`, every read takes a :class:`~judgekit.store.db.Store`
and returns a DataFrame; writes replace a run's rows in one transaction.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from judgekit.inputs.human import HUMAN_LABEL_COLUMNS, HUMAN_SCORE_COLUMNS, HumanLabels
from judgekit.store.db import Store

REPORT_COLUMNS = ["section", "metric", "value", "n", "detail"]


def _frame(store: Store, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params or []).df()


def run_kind(store: Store, *, run_id: str) -> str | None:
    """The kind of a run (``compare``, ``panel``, ``import`` ...), or None if there is none."""
    with store.connect() as con:
        row = con.execute("SELECT kind FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else str(row[0])


def run_config(store: Store, *, run_id: str) -> dict[str, Any]:
    """A run's config and stats, decoded (empty dicts when absent)."""
    with store.connect() as con:
        row = con.execute("SELECT config, stats FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return {}
    return {
        "config": json.loads(row[0]) if row[0] else {},
        "stats": json.loads(row[1]) if row[1] else {},
    }


def comparisons(store: Store, *, run_id: str) -> pd.DataFrame:
    """A run's outcomes with both answers' texts: prompt_id, model_a, model_b, win_a, win_b,
    tie, flipped, status, output_a, output_b (NULL where the run stored no candidates)."""
    return _frame(
        store,
        "SELECT o.prompt_id, o.model_a, o.model_b, o.win_a, o.win_b, o.tie, o.flipped, o.status, "
        "ca.output AS output_a, cb.output AS output_b FROM outcomes o "
        "LEFT JOIN candidates ca ON ca.run_id = o.run_id AND ca.prompt_id = o.prompt_id "
        "AND ca.model = o.model_a "
        "LEFT JOIN candidates cb ON cb.run_id = o.run_id AND cb.prompt_id = o.prompt_id "
        "AND cb.model = o.model_b WHERE o.run_id = ? ORDER BY o.prompt_id, o.model_a, o.model_b",
        [run_id],
    )


def verdicts(store: Store, *, run_id: str) -> pd.DataFrame:
    """Per-order verdicts of a run (the ``verdicts`` table, or a panel's members')."""
    columns = (
        "prompt_id, model_a, model_b, position_order, status, p_first, p_second, p_tie, "
        "discrete, raw, request_hash"
    )
    plain = _frame(
        store,
        f"SELECT {columns}, turn FROM verdicts WHERE run_id = ? "
        "ORDER BY prompt_id, turn, model_a, model_b, position_order",
        [run_id],
    )
    if not plain.empty:
        return plain
    return _frame(
        store,
        f"SELECT member, judge_id, sample, {columns} FROM panel_verdicts WHERE run_id = ? "
        "ORDER BY member, prompt_id, model_a, model_b, position_order",
        [run_id],
    )


def panel_outcomes(store: Store, *, run_id: str) -> pd.DataFrame:
    """Each panel member's own outcomes: member, judge_id, sample and the outcome columns."""
    return _frame(
        store,
        "SELECT member, judge_id, sample, prompt_id, model_a, model_b, win_a, win_b, tie, "
        "flipped, status FROM panel_outcomes WHERE run_id = ? "
        "ORDER BY member, prompt_id, model_a, model_b",
        [run_id],
    )


def calls(store: Store, *, run_id: str) -> pd.DataFrame:
    """The judge calls behind a run's pairwise verdicts (its own or its panel's):
    judge_id, status, latency_s, prompt_tokens, completion_tokens, cost."""
    return _frame(
        store,
        """
        WITH used AS (
            SELECT request_hash FROM verdicts WHERE run_id = ?
            UNION SELECT request_hash FROM panel_verdicts WHERE run_id = ?
        )
        SELECT c.judge_id, c.status, c.latency_s, c.prompt_tokens, c.completion_tokens, c.cost
        FROM judge_calls c JOIN used USING (request_hash) ORDER BY c.judge_id
        """,
        [run_id, run_id],
    )


def scores(store: Store, *, run_id: str) -> pd.DataFrame:
    """Pointwise scores of a run, averaged over criteria: prompt_id, model, score."""
    return _frame(
        store,
        "SELECT prompt_id, model, avg(score) AS score FROM scores "
        "WHERE run_id = ? AND status = 'ok' GROUP BY prompt_id, model ORDER BY prompt_id, model",
        [run_id],
    )


def outputs(store: Store, *, run_id: str) -> pd.DataFrame:
    """A run's inputs as an outputs frame: prompt_id, prompt, model, output, reference,
    category."""
    return _frame(
        store,
        "SELECT c.prompt_id, i.prompt, c.model, c.output, i.reference, i.category "
        "FROM candidates c JOIN items i USING (run_id, prompt_id) WHERE c.run_id = ? "
        "ORDER BY c.prompt_id, c.model",
        [run_id],
    )


def write_human_labels(store: Store, *, run_id: str, labels: HumanLabels) -> None:
    """Replace the human labels and scores stored for a run."""
    pairs = labels.pairs[HUMAN_LABEL_COLUMNS].assign(run_id=run_id, source=labels.source)
    human_scores = labels.scores[HUMAN_SCORE_COLUMNS].assign(run_id=run_id, source=labels.source)
    store.replace_rows(
        run_id,
        {
            "meta_human_labels": pairs.astype({"weight": float}),
            "meta_human_scores": human_scores.astype({"score": float}),
        },
    )


def human_labels(store: Store, *, run_id: str) -> HumanLabels:
    """The human labels and scores stored for a run (both empty when there are none)."""
    pairs = _frame(
        store,
        f"SELECT {', '.join(HUMAN_LABEL_COLUMNS)}, source FROM meta_human_labels WHERE run_id = ?",
        [run_id],
    )
    human_scores = _frame(
        store,
        f"SELECT {', '.join(HUMAN_SCORE_COLUMNS)}, source FROM meta_human_scores WHERE run_id = ?",
        [run_id],
    )
    sources = set(pairs["source"].dropna()) | set(human_scores["source"].dropna())
    return HumanLabels(
        pairs.drop(columns="source"),
        human_scores.drop(columns="source"),
        ", ".join(sorted(sources)),
    )


def write_report(store: Store, *, run_id: str, metrics: pd.DataFrame) -> None:
    """Replace a run's stored report with ``metrics`` (section, metric, value, n, detail)."""
    rows = metrics[REPORT_COLUMNS].copy()
    rows["detail"] = rows["detail"].map(lambda d: json.dumps(d, sort_keys=True, default=str))
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce").astype(float)
    rows["n"] = pd.to_numeric(rows["n"], errors="coerce").astype("Int64")
    rows["run_id"] = run_id
    rows["created_at"] = pd.Timestamp.now()
    store.replace_rows(run_id, {"meta_reports": rows})


def report(store: Store, *, run_id: str) -> pd.DataFrame:
    """A run's stored report (empty when none was made): section, metric, value, n, detail."""
    frame = _frame(
        store,
        "SELECT section, metric, value, n, detail FROM meta_reports WHERE run_id = ? "
        "ORDER BY rowid",
        [run_id],
    )
    frame["detail"] = frame["detail"].map(lambda d: json.loads(d) if d else {})
    return frame
