"""Schema migrations: small named functions, applied in order and recorded in a table.

A store whose recorded migrations include names this version does not know was written by
a newer judgekit; opening it is refused with a clear message instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from judgekit.errors import StoreError

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            config JSON NOT NULL,
            versions JSON,
            stats JSON,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP
        );
        CREATE TABLE items (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            reference VARCHAR,
            category VARCHAR,
            PRIMARY KEY (run_id, prompt_id)
        );
        CREATE TABLE candidates (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            output VARCHAR NOT NULL,
            PRIMARY KEY (run_id, prompt_id, model)
        );
        CREATE TABLE judge_calls (
            request_hash VARCHAR PRIMARY KEY,
            judge_id VARCHAR NOT NULL,
            messages JSON NOT NULL,
            params JSON NOT NULL,
            text VARCHAR,
            choice_probs JSON,
            top_logprobs JSON,
            status VARCHAR NOT NULL,
            error VARCHAR,
            latency_s DOUBLE,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost DOUBLE,
            attempts INTEGER NOT NULL DEFAULT 1,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE verdicts (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model_a VARCHAR NOT NULL,
            model_b VARCHAR NOT NULL,
            position_order VARCHAR NOT NULL,
            request_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            p_first DOUBLE,
            p_second DOUBLE,
            p_tie DOUBLE,
            discrete BOOLEAN,
            raw VARCHAR,
            error VARCHAR,
            PRIMARY KEY (run_id, prompt_id, model_a, model_b, position_order)
        );
        CREATE TABLE outcomes (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model_a VARCHAR NOT NULL,
            model_b VARCHAR NOT NULL,
            win_a DOUBLE,
            win_b DOUBLE,
            tie DOUBLE,
            flipped BOOLEAN,
            status VARCHAR NOT NULL,
            PRIMARY KEY (run_id, prompt_id, model_a, model_b)
        );
        CREATE TABLE scores (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            criterion VARCHAR NOT NULL,
            score DOUBLE,
            distribution JSON,
            status VARCHAR NOT NULL,
            raw VARCHAR,
            request_hash VARCHAR,
            PRIMARY KEY (run_id, prompt_id, model, criterion)
        );
        CREATE TABLE ratings (
            run_id VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            rating DOUBLE NOT NULL,
            ci_low DOUBLE,
            ci_high DOUBLE,
            rank INTEGER NOT NULL,
            n DOUBLE,
            win_rate DOUBLE,
            identifiable BOOLEAN,
            PRIMARY KEY (run_id, method, model)
        );
        """
    )


def m002_checklists(con: duckdb.DuckDBPyConnection) -> None:
    """TICK checklists (one row per question), their per-response answers, and the reason
    for each failed score (parse failures are stored as data, with their raw text)."""
    con.execute(
        """
        ALTER TABLE scores ADD COLUMN error VARCHAR;
        CREATE TABLE checklists (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            question_index INTEGER NOT NULL,
            question VARCHAR NOT NULL,
            weight DOUBLE NOT NULL,
            source VARCHAR NOT NULL,
            generator VARCHAR,
            request_hash VARCHAR,
            PRIMARY KEY (run_id, prompt_id, question_index)
        );
        CREATE TABLE checklist_answers (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            question_index INTEGER NOT NULL,
            p_yes DOUBLE,
            answer VARCHAR,
            status VARCHAR NOT NULL,
            raw VARCHAR,
            error VARCHAR,
            request_hash VARCHAR,
            PRIMARY KEY (run_id, prompt_id, model, question_index)
        );
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m002_checklists", m002_checklists),
]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations inside the caller's transaction; return the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _judgekit_migrations "
        "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    applied = {row[0] for row in con.execute("SELECT name FROM _judgekit_migrations").fetchall()}
    known = {name for name, _ in MIGRATIONS}
    unknown = applied - known
    if unknown:
        raise StoreError(
            "this store was written by a newer judgekit (unknown migrations: "
            f"{', '.join(sorted(unknown))}); upgrade judgekit to open it"
        )
    done = []
    for name, fn in MIGRATIONS:
        if name not in applied:
            fn(con)
            con.execute("INSERT INTO _judgekit_migrations VALUES (?, now())", [name])
            done.append(name)
    return done


def schema_state(con: duckdb.DuckDBPyConnection) -> str:
    """``"empty"``, ``"current"``, ``"old"`` or ``"newer"``, read without writing anything."""
    tables = {
        row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "_judgekit_migrations" not in tables:
        return "empty"
    applied = {row[0] for row in con.execute("SELECT name FROM _judgekit_migrations").fetchall()}
    known = {name for name, _ in MIGRATIONS}
    if applied - known:
        return "newer"
    return "current" if applied == known else "old"
