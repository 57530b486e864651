"""The DuckDB store: one file holds every run, judge call, verdict, outcome, score and rating.

Connections are opened per transaction and closed right after, so the file is locked only
while a batch is being written. A reader (the dashboard, ``judgekit leaderboard``) can then
open it between batches of a long run. A separate lock file keeps two writing runs apart.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from judgekit.errors import StoreError
from judgekit.store.migrations import migrate, schema_state
from judgekit.types import JudgeRequest, JudgeResponse

MEMORY = ":memory:"
_LOCK_RETRIES = 50
_LOCK_SLEEP_S = 0.1


def package_version() -> str:
    """judgekit's installed version, recorded with every run (from the package metadata, so
    the store does not import the top-level package and everything it re-exports)."""
    try:
        return importlib.metadata.version("judgekit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class CallRecord:
    """One judge call as stored: the request, its hash and the response."""

    request_hash: str
    judge_id: str
    request: JudgeRequest
    response: JudgeResponse


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


class Store:
    """A judgekit DuckDB file. Use :func:`open_store` to get one."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._memory_con: duckdb.DuckDBPyConnection | None = None
        if self.path == MEMORY:
            self._memory_con = duckdb.connect(MEMORY)
        if read_only:
            if self.path != MEMORY and not Path(self.path).exists():
                raise StoreError(f"{self.path}: no such store; run `judgekit compare` first")
            with self.connect() as con:
                state = schema_state(con)
            if state == "newer":
                raise StoreError(
                    f"{self.path} was written by a newer judgekit; upgrade judgekit to read it"
                )
        else:
            with self.transaction() as con:
                migrate(con)

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; read-only stores open the file read-only."""
        if self._memory_con is not None:
            yield self._memory_con
            return
        con = None
        for attempt in range(_LOCK_RETRIES):
            try:
                con = duckdb.connect(self.path, read_only=self.read_only)
                break
            except duckdb.IOException as exc:
                if not _is_lock_error(exc) or attempt == _LOCK_RETRIES - 1:
                    raise StoreError(
                        f"{self.path}: the store is busy (another judgekit process is writing "
                        "to it); try again when that run has finished"
                        if _is_lock_error(exc)
                        else f"{self.path}: cannot open the store: {exc}"
                    ) from None
                time.sleep(_LOCK_SLEEP_S)
            except duckdb.Error as exc:
                raise StoreError(f"{self.path}: cannot open the store: {exc}") from None
        assert con is not None
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction: everything inside commits together or not at all."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the single-writer lock for a whole run; a second run is refused."""
        if self._memory_con is not None:
            yield
            return
        lock_path = self.path + ".lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"{self.path}: another judgekit run is writing to this store; "
                    "wait for it to finish or use another --db"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)

    def is_writing(self) -> bool:
        """True while some process holds the writer lock (a run is in progress)."""
        if self._memory_con is not None:
            return False
        lock_path = self.path + ".lock"
        if not os.path.exists(lock_path):
            return False
        fd = os.open(lock_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def close(self) -> None:
        if self._memory_con is not None:
            self._memory_con.close()
            self._memory_con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, *, kind: str, config: dict[str, Any], run_id: str | None = None) -> str:
        """Insert (or restart) a run and return its id."""
        run_id = run_id or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        versions = {"judgekit": package_version(), "duckdb": duckdb.__version__}
        with self.transaction() as con:
            con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            con.execute(
                "INSERT INTO runs VALUES (?, ?, 'running', ?, ?, NULL, now(), NULL)",
                [run_id, kind, json.dumps(config, sort_keys=True), json.dumps(versions)],
            )
        return run_id

    def finish_run(
        self, run_id: str, *, status: str = "finished", stats: dict[str, Any] | None = None
    ) -> None:
        """Close a run (``finished``, ``failed`` or ``interrupted``) and record this execution.

        ``runs.stats`` holds the latest execution's stats; ``run_executions`` keeps one row
        per execution, so a re-run does not erase what the earlier ones cost.
        """
        stats = stats or {}
        counts = [
            stats.get(key)
            for key in (
                "judge_calls_planned",
                "judge_calls_made",
                "judge_calls_cached",
                "judge_calls_failed",
            )
        ]
        with self.transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, stats = ?, finished_at = now() WHERE run_id = ?",
                [status, json.dumps(stats, sort_keys=True), run_id],
            )
            con.execute(
                """
                INSERT INTO run_executions
                SELECT r.run_id,
                       coalesce((SELECT max(e.execution) FROM run_executions e
                                 WHERE e.run_id = r.run_id), 0) + 1,
                       r.status, r.started_at, r.finished_at,
                       epoch(r.finished_at) - epoch(r.started_at), ?, ?, ?, ?, r.stats
                FROM runs r WHERE r.run_id = ?
                """,
                [*counts, run_id],
            )

    def run_executions(self, run_id: str) -> pd.DataFrame:
        """Every execution of ``run_id``, oldest first (see :meth:`finish_run`)."""
        with self.connect() as con:
            return con.execute(
                "SELECT * FROM run_executions WHERE run_id = ? ORDER BY execution", [run_id]
            ).df()

    # -- judge calls -------------------------------------------------------------------------

    def ok_hashes(self, hashes: Iterable[str]) -> set[str]:
        """The subset of ``hashes`` that already has a successful call stored."""
        frame = pd.DataFrame({"request_hash": sorted(set(hashes))})
        if frame.empty:
            return set()
        with self.connect() as con:
            con.register("wanted", frame)
            rows = con.execute(
                "SELECT c.request_hash FROM judge_calls c JOIN wanted w USING (request_hash) "
                "WHERE c.status = 'ok'"
            ).fetchall()
            con.unregister("wanted")
        return {row[0] for row in rows}

    def write_calls(self, records: Sequence[CallRecord]) -> None:
        """Upsert judge calls in one transaction; a failed call is replaced by a later retry."""
        if not records:
            return
        frame = pd.DataFrame(
            {
                "request_hash": [r.request_hash for r in records],
                "judge_id": [r.judge_id for r in records],
                "messages": [
                    json.dumps([{"role": m.role, "content": m.content} for m in r.request.messages])
                    for r in records
                ],
                "params": [json.dumps(r.request.params(), sort_keys=True) for r in records],
                "text": [r.response.text for r in records],
                "choice_probs": [_json_or_none(r.response.choice_probs) for r in records],
                "top_logprobs": [_json_or_none(r.response.top_logprobs) for r in records],
                "status": [r.response.status for r in records],
                "error": [r.response.error for r in records],
                "latency_s": [r.response.latency_s for r in records],
                "prompt_tokens": pd.array([r.response.prompt_tokens for r in records], "Int64"),
                "completion_tokens": pd.array(
                    [r.response.completion_tokens for r in records], "Int64"
                ),
                "cost": pd.array([r.response.cost for r in records], "Float64"),
            }
        )
        with self.transaction() as con:
            con.register("incoming", frame)
            # Keep an attempt counter so that retried failures stay visible.
            con.execute(
                """
                INSERT OR REPLACE INTO judge_calls
                SELECT i.request_hash, i.judge_id, i.messages, i.params, i.text, i.choice_probs,
                       i.top_logprobs, i.status, i.error, i.latency_s, i.prompt_tokens,
                       i.completion_tokens, i.cost, coalesce(c.attempts, 0) + 1, now()
                FROM incoming i LEFT JOIN judge_calls c USING (request_hash)
                """
            )
            con.unregister("incoming")

    def load_responses(self, hashes: Iterable[str]) -> dict[str, JudgeResponse]:
        frame = pd.DataFrame({"request_hash": sorted(set(hashes))})
        if frame.empty:
            return {}
        with self.connect() as con:
            con.register("wanted", frame)
            rows = con.execute(
                "SELECT request_hash, text, choice_probs, top_logprobs, status, error, latency_s, "
                "prompt_tokens, completion_tokens, cost "
                "FROM judge_calls JOIN wanted USING (request_hash)"
            ).fetchall()
            con.unregister("wanted")
        out = {}
        for h, text, probs, top, status, error, latency, pt, ct, cost in rows:
            out[h] = JudgeResponse(
                text=text or "",
                choice_probs=json.loads(probs) if probs else None,
                top_logprobs=json.loads(top) if top else None,
                status=status,
                error=error,
                latency_s=latency or 0.0,
                prompt_tokens=pt,
                completion_tokens=ct,
                cost=cost,
            )
        return out

    # -- derived tables -------------------------------------------------------------------

    def replace_rows(self, run_id: str, tables: dict[str, pd.DataFrame]) -> None:
        """Replace a run's rows in several tables in one transaction."""
        self._insert(tables, delete_run=run_id)

    def append_rows(self, tables: dict[str, pd.DataFrame]) -> None:
        """Insert rows into several tables in one transaction."""
        self._insert(tables, delete_run=None)

    def _insert(self, tables: dict[str, pd.DataFrame], *, delete_run: str | None) -> None:
        with self.transaction() as con:
            for table, frame in tables.items():
                if delete_run is not None:
                    con.execute(f"DELETE FROM {table} WHERE run_id = ?", [delete_run])
                if frame.empty:
                    continue
                columns = ", ".join(frame.columns)
                con.register("incoming", frame)
                con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming")
                con.unregister("incoming")

    def write_ratings(self, *, run_id: str, method: str, frame: pd.DataFrame) -> None:
        """Store a leaderboard frame (model, rating, ci_low, ci_high, rank[, n, win_rate])."""
        rows = frame.copy()
        rows["run_id"] = run_id
        rows["method"] = method
        for column in ("ci_low", "ci_high", "n", "win_rate", "identifiable"):
            if column not in rows:
                rows[column] = None
        cols = [
            "run_id",
            "method",
            "model",
            "rating",
            "ci_low",
            "ci_high",
            "rank",
            "n",
            "win_rate",
            "identifiable",
        ]
        with self.transaction() as con:
            con.execute("DELETE FROM ratings WHERE run_id = ? AND method = ?", [run_id, method])
            con.register("incoming", rows[cols])
            con.execute(f"INSERT INTO ratings ({', '.join(cols)}) SELECT * FROM incoming")
            con.unregister("incoming")


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def open_store(path: str | Path = "judgekit.duckdb", *, read_only: bool = False) -> Store:
    """Open (creating and migrating if needed) a judgekit store.

    Raises:
        StoreError: the file is missing (read-only), busy, corrupt or from a newer schema.
    """
    return Store(path, read_only=read_only)
