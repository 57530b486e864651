"""Store reads of trust reports: one JSON report per run in ``trust_reports``.

The JSON is the same object as the ``trust`` key of ``--json``; readers get it back as a
plain dict.
"""

from __future__ import annotations

import json
from typing import Any

from judgekit.store.db import Store


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
