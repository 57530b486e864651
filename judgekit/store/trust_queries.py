"""Store reads and writes of trust reports: one JSON report per run in ``trust_reports``.

The JSON is ``TrustReport.to_dict()`` (:mod:`judgekit.quality.trust`), the same object as the
``trust`` key of ``--json``. The store keeps and returns it as a plain dict, so it needs
nothing from the layers above it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from judgekit.store.db import Store


def write_trust(store: Store, *, run_id: str, report: Mapping[str, Any]) -> None:
    """Store (or replace) the trust report of a run, given as ``TrustReport.to_dict()``."""
    payload = json.dumps(dict(report), sort_keys=True)
    with store.transaction() as con:
        con.execute("DELETE FROM trust_reports WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO trust_reports VALUES (?, ?, now())", [run_id, payload])


def load_trust(db: Store, run_id: str) -> dict[str, Any] | None:
    """The stored trust report of a run as a dict, or None when it has none.

    A store written before trust reports existed (opened read-only, so not migrated) has
    no such table; that also reads as None.
    """
    with db.connect() as con:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = 'trust_reports'"
        ).fetchone()
        if not found or not found[0]:
            return None
        row = con.execute("SELECT report FROM trust_reports WHERE run_id = ?", [run_id]).fetchone()
    if row is None or row[0] is None:
        return None
    loaded: dict[str, Any] = json.loads(row[0])
    return loaded
