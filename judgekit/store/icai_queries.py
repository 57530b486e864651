"""Read queries for constitution runs: principles, clusters, votes, reports, the rubric YAML.

Like :mod:`judgekit.store.queries`, every function takes a Store and returns plain data
(mostly DataFrames), for the CLI, the library and dashboards alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from judgekit.errors import StoreError
from judgekit.store.db import Store


def _frame(store: Store, sql: str, params: list[object]) -> pd.DataFrame:
    with store.connect() as con:
        return con.execute(sql, params).df()


def constitution_runs(store: Store) -> pd.DataFrame:
    """Constitution runs, newest first: run id, status, principle count, start and end."""
    return _frame(
        store,
        "SELECT r.run_id, r.status, c.name, c.n_principles, r.started_at, r.finished_at "
        "FROM runs r LEFT JOIN icai_constitutions c USING (run_id) "
        "WHERE r.kind = 'constitution' ORDER BY r.started_at DESC, r.run_id",
        [],
    )


def latest_run_id(store: Store) -> str:
    """The newest finished constitution run.

    Raises:
        StoreError: the store holds none.
    """
    runs = constitution_runs(store)
    finished = runs[runs["status"] == "finished"]
    if finished.empty:
        raise StoreError(f"{store.path}: no finished constitution run; run `judgekit constitution`")
    return str(finished["run_id"].iloc[0])


def principles(store: Store, *, run_id: str, selected_only: bool = True) -> pd.DataFrame:
    """The constitution's principles in order with their vote statistics (or, with
    ``selected_only=False``, every cluster, tested or not)."""
    where = "run_id = ?" + (" AND selected" if selected_only else "")
    return _frame(
        store,
        "SELECT rank, cluster_id, principle, size, n_variants, cohesion, tested, embedder, "
        "n_for, n_against, n_abstain, n_errors, n_flipped, relevance, accuracy, net, selected "
        f"FROM icai_clusters WHERE {where} ORDER BY rank NULLS LAST, cluster_id",
        [run_id],
    )


def proposals(store: Store, *, run_id: str) -> pd.DataFrame:
    """Every proposed principle with the pair it explains and its cluster."""
    return _frame(
        store,
        "SELECT principle_id, pair_id, principle_index, principle, cluster_id "
        "FROM icai_principles WHERE run_id = ? ORDER BY pair_id, principle_index",
        [run_id],
    )


def generation_failures(store: Store, *, run_id: str) -> pd.DataFrame:
    """Proposal calls that gave no principle: status, error and the raw reply."""
    return _frame(
        store,
        "SELECT pair_id, status, error, raw, request_hash FROM icai_generations "
        "WHERE run_id = ? AND status <> 'ok' ORDER BY pair_id",
        [run_id],
    )


def votes(store: Store, *, run_id: str, cluster_id: str | None = None) -> pd.DataFrame:
    """Per-pair vote outcomes (for / against / abstain / error) of a run's principles."""
    sql = (
        "SELECT cluster_id, pair_id, vote, flipped, status, error FROM icai_vote_outcomes "
        "WHERE run_id = ?"
    )
    params: list[object] = [run_id]
    if cluster_id is not None:
        sql += " AND cluster_id = ?"
        params.append(cluster_id)
    return _frame(store, sql + " ORDER BY cluster_id, pair_id", params)


def report(store: Store, *, run_id: str) -> pd.DataFrame:
    """The reconstruction report: ``none``, ``constitution``, then each principle alone."""
    frame = _frame(
        store,
        "SELECT condition, principle, cluster_id, n, correct, wrong, ties, errors, agreement, "
        "decided_agreement, tie_rate, flip_rate FROM icai_reports WHERE run_id = ? "
        "ORDER BY CASE condition WHEN 'none' THEN 0 WHEN 'constitution' THEN 1 ELSE 2 END, "
        "condition",
        [run_id],
    )
    if frame.empty:
        raise StoreError(f"{store.path}: run {run_id!r} has no reconstruction report")
    return frame


def reconstructions(store: Store, *, run_id: str, condition: str | None = None) -> pd.DataFrame:
    """Per-pair outcomes behind the report, with both raw replies."""
    sql = (
        "SELECT condition, pair_id, preferred, winner, win_a, win_b, tie, flipped, status, "
        "error, raw_ab, raw_ba FROM icai_reconstructions WHERE run_id = ?"
    )
    params: list[object] = [run_id]
    if condition is not None:
        sql += " AND condition = ?"
        params.append(condition)
    return _frame(store, sql + " ORDER BY condition, pair_id", params)


def rubric_yaml(store: Store, *, run_id: str) -> str:
    """The constitution of a run as rubric YAML.

    Raises:
        StoreError: the run has none (unknown run, or no principle passed the filters).
    """
    with store.connect() as con:
        row = con.execute(
            "SELECT rubric_yaml FROM icai_constitutions WHERE run_id = ?", [run_id]
        ).fetchone()
    if row is None or row[0] is None:
        raise StoreError(f"{store.path}: run {run_id!r} has no constitution")
    return str(row[0])


def cached_embeddings(
    store: Store, *, embedder: str, hashes: Sequence[str]
) -> dict[str, np.ndarray]:
    """Stored embedding vectors of the given text hashes (missing ones are left out)."""
    wanted = pd.DataFrame({"text_hash": sorted(set(hashes))})
    if wanted.empty:
        return {}
    with store.connect() as con:
        con.register("wanted", wanted)
        rows = con.execute(
            "SELECT text_hash, vector FROM icai_embeddings JOIN wanted USING (text_hash) "
            "WHERE embedder = ?",
            [embedder],
        ).fetchall()
        con.unregister("wanted")
    return {h: np.asarray(v, dtype=np.float64) for h, v in rows}
