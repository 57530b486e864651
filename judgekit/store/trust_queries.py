"""Store reads and writes of trust reports: one JSON report per run in ``trust_reports``.

The JSON is :meth:`judgekit.quality.trust.TrustReport.to_dict`, the same object as the
``trust`` key of ``--json``; readers get it back as a plain dict.
"""

from __future__ import annotations

import json
from typing import Any

from judgekit.quality.trust import TrustReport
from judgekit.store.db import Store


def write_trust(store: Store, *, run_id: str, report: TrustReport) -> None:
    """Store (or replace) the trust report of a run."""
    payload = json.dumps(report.to_dict(), sort_keys=True)
    with store.transaction() as con:
        con.execute("DELETE FROM trust_reports WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO trust_reports VALUES (?, ?, now())", [run_id, payload])


def load_trust(db: Store, run_id: str) -> dict[str, Any] | None:
    """The stored trust report of a run as a dict, or None when it has none.

    A store written before trust reports existed (opened read-only, so not migrated) has
    no such table; that also reads as None.
    """
    with db.connect() as con:
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name = ?",
                ["trust_reports"],
            ).fetchall()
        }
        if not tables:
            return None
        row = con.execute("SELECT report FROM trust_reports WHERE run_id = ?", [run_id]).fetchone()
    if row is None or row[0] is None:
        return None
    loaded: dict[str, Any] = json.loads(row[0])
    return loaded


def load_trust_report(db: Store, run_id: str) -> TrustReport | None:
    """The stored trust report of a run as a :class:`TrustReport`, or None."""
    payload = load_trust(db, run_id)
    return None if payload is None else TrustReport.from_dict(payload)
