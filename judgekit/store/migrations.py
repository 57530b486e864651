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


def m010_listwise(con: duckdb.DuckDBPyConnection) -> None:
    """Listwise verdicts: one row per (list, permutation) judge call, with the order shown, the
    un-permuted ranking (model names, best first), first-choice probabilities where logprobs
    exist, and the raw text (a parse failure is stored as data, with its status)."""
    con.execute(
        """
        CREATE TABLE listwise_verdicts (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            list_index INTEGER NOT NULL,
            permutation_index INTEGER NOT NULL,
            shown JSON NOT NULL,
            request_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            ranking JSON,
            first_probs JSON,
            discrete BOOLEAN,
            raw VARCHAR,
            error VARCHAR,
            PRIMARY KEY (run_id, prompt_id, list_index, permutation_index)
        );
        """
    )


def m011_arena(con: duckdb.DuckDBPyConnection) -> None:
    """K-wise arena rounds: what each round chose (prompt, models, order shown), what the
    judge said (ranking or failure), and the ratings of its models after the update, so that
    an interrupted arena resumes by replaying rounds instead of re-judging them."""
    con.execute(
        """
        CREATE TABLE arena_rounds (
            run_id VARCHAR NOT NULL,
            round_index INTEGER NOT NULL,
            prompt_id VARCHAR NOT NULL,
            models JSON NOT NULL,
            shown JSON NOT NULL,
            request_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            ranking JSON,
            first_probs JSON,
            raw VARCHAR,
            error VARCHAR,
            mu_after JSON NOT NULL,
            sigma_after JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, round_index)
        );
        """
    )


def m030_icai(con: duckdb.DuckDBPyConnection) -> None:
    """Inverse-constitution extraction, one table per stage so that every stage of a run can
    be audited and a re-run resumes: the pairs and their split, the judge's proposals
    (failures kept with their raw text), the proposed principles with their cluster, the
    clusters with their vote tallies, the per-order votes and per-pair vote outcomes, the
    constitution as rubric YAML, the reconstruction report and its per-pair outcomes, and a
    cache of sentence embeddings (keyed by text, shared by all runs)."""
    con.execute(
        """
        CREATE TABLE icai_pairs (
            run_id VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            text_a VARCHAR NOT NULL,
            text_b VARCHAR NOT NULL,
            preferred VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            source VARCHAR,
            PRIMARY KEY (run_id, pair_id)
        );
        CREATE TABLE icai_generations (
            run_id VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            request_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            n_principles INTEGER NOT NULL,
            raw VARCHAR,
            error VARCHAR,
            PRIMARY KEY (run_id, pair_id)
        );
        CREATE TABLE icai_principles (
            run_id VARCHAR NOT NULL,
            principle_id VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            principle_index INTEGER NOT NULL,
            principle VARCHAR NOT NULL,
            cluster_id VARCHAR,
            PRIMARY KEY (run_id, principle_id)
        );
        CREATE TABLE icai_clusters (
            run_id VARCHAR NOT NULL,
            cluster_id VARCHAR NOT NULL,
            principle VARCHAR NOT NULL,
            size INTEGER NOT NULL,
            n_variants INTEGER NOT NULL,
            cohesion DOUBLE,
            tested BOOLEAN NOT NULL,
            embedder VARCHAR NOT NULL,
            n_for INTEGER,
            n_against INTEGER,
            n_abstain INTEGER,
            n_errors INTEGER,
            n_flipped INTEGER,
            relevance DOUBLE,
            accuracy DOUBLE,
            net INTEGER,
            selected BOOLEAN NOT NULL DEFAULT false,
            rank INTEGER,
            PRIMARY KEY (run_id, cluster_id)
        );
        CREATE TABLE icai_votes (
            run_id VARCHAR NOT NULL,
            cluster_id VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            position_order VARCHAR NOT NULL,
            request_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            p_first DOUBLE,
            p_second DOUBLE,
            p_none DOUBLE,
            raw VARCHAR,
            error VARCHAR,
            PRIMARY KEY (run_id, cluster_id, pair_id, position_order)
        );
        CREATE TABLE icai_vote_outcomes (
            run_id VARCHAR NOT NULL,
            cluster_id VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            vote VARCHAR NOT NULL,
            flipped BOOLEAN,
            status VARCHAR NOT NULL,
            error VARCHAR,
            PRIMARY KEY (run_id, cluster_id, pair_id)
        );
        CREATE TABLE icai_constitutions (
            run_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            n_principles INTEGER NOT NULL,
            rubric_yaml VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE icai_reports (
            run_id VARCHAR NOT NULL,
            condition VARCHAR NOT NULL,
            principle VARCHAR,
            cluster_id VARCHAR,
            n INTEGER NOT NULL,
            correct INTEGER NOT NULL,
            wrong INTEGER NOT NULL,
            ties INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            agreement DOUBLE,
            decided_agreement DOUBLE,
            tie_rate DOUBLE,
            flip_rate DOUBLE,
            PRIMARY KEY (run_id, condition)
        );
        CREATE TABLE icai_reconstructions (
            run_id VARCHAR NOT NULL,
            condition VARCHAR NOT NULL,
            pair_id VARCHAR NOT NULL,
            preferred VARCHAR NOT NULL,
            winner VARCHAR,
            win_a DOUBLE,
            win_b DOUBLE,
            tie DOUBLE,
            flipped BOOLEAN,
            status VARCHAR NOT NULL,
            error VARCHAR,
            request_hash_ab VARCHAR NOT NULL,
            request_hash_ba VARCHAR NOT NULL,
            raw_ab VARCHAR,
            raw_ba VARCHAR,
            PRIMARY KEY (run_id, condition, pair_id)
        );
        CREATE TABLE icai_embeddings (
            embedder VARCHAR NOT NULL,
            text_hash VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            vector FLOAT[] NOT NULL,
            PRIMARY KEY (embedder, text_hash)
        );
        """
    )


def m020_meta(con: duckdb.DuckDBPyConnection) -> None:
    """Judge meta-evaluation: the judge-quality report of each run (one row per figure, with
    its details as JSON), the human labels and scores a run was checked against, and the
    per-member verdicts and outcomes of judge panels (the pooled outcome goes to
    ``outcomes``; ``member`` tells repeated samples of one judge apart)."""
    con.execute(
        """
        CREATE TABLE meta_reports (
            run_id VARCHAR NOT NULL,
            section VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            value DOUBLE,
            n BIGINT,
            detail JSON,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, metric)
        );
        CREATE TABLE meta_human_labels (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model_a VARCHAR NOT NULL,
            model_b VARCHAR NOT NULL,
            winner VARCHAR NOT NULL,
            annotator VARCHAR,
            weight DOUBLE NOT NULL,
            source VARCHAR
        );
        CREATE TABLE meta_human_scores (
            run_id VARCHAR NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            score DOUBLE NOT NULL,
            annotator VARCHAR,
            source VARCHAR
        );
        CREATE TABLE panel_verdicts (
            run_id VARCHAR NOT NULL,
            member VARCHAR NOT NULL,
            judge_id VARCHAR NOT NULL,
            sample INTEGER NOT NULL,
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
            PRIMARY KEY (run_id, member, prompt_id, model_a, model_b, position_order)
        );
        CREATE TABLE panel_outcomes (
            run_id VARCHAR NOT NULL,
            member VARCHAR NOT NULL,
            judge_id VARCHAR NOT NULL,
            sample INTEGER NOT NULL,
            prompt_id VARCHAR NOT NULL,
            model_a VARCHAR NOT NULL,
            model_b VARCHAR NOT NULL,
            win_a DOUBLE,
            win_b DOUBLE,
            tie DOUBLE,
            flipped BOOLEAN,
            status VARCHAR NOT NULL,
            PRIMARY KEY (run_id, member, prompt_id, model_a, model_b)
        );
        """
    )


#: Tables whose rows judge one turn of a conversation, with their primary key before ``turn``.
TURN_TABLES = {
    "verdicts": ("run_id", "prompt_id", "model_a", "model_b", "position_order"),
    "outcomes": ("run_id", "prompt_id", "model_a", "model_b"),
    "scores": ("run_id", "prompt_id", "model", "criterion"),
}


def m040_turns(con: duckdb.DuckDBPyConnection) -> None:
    """Multi-turn judging: verdicts, outcomes and scores gain a ``turn`` column (1 for every
    row written before, and the default), which joins their primary keys so that turns 1 and
    2 of one prompt are kept apart; items and candidates keep every turn of a conversation
    as JSON lists (``turns``, ``reference_turns``; NULL for a single turn)."""
    for table, key in TURN_TABLES.items():
        # DuckDB cannot widen a primary key in place: rebuild the table with its columns,
        # NOT NULL constraints and rows, then add the wider key.
        required = [
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND is_nullable = 'NO'",
                [table],
            ).fetchall()
        ]
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_before_turns")
        con.execute(
            f"CREATE TABLE {table} AS SELECT *, 1::INTEGER AS turn FROM {table}_before_turns"
        )
        con.execute(f"DROP TABLE {table}_before_turns")
        for column in [*required, "turn"]:
            con.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        con.execute(f"ALTER TABLE {table} ALTER COLUMN turn SET DEFAULT 1")
        con.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(key)}, turn)")
    con.execute(
        """
        ALTER TABLE items ADD COLUMN turns JSON;
        ALTER TABLE items ADD COLUMN reference_turns JSON;
        ALTER TABLE candidates ADD COLUMN turns JSON;
        """
    )


def m050_trust(con: duckdb.DuckDBPyConnection) -> None:
    # One trust report per run (TrustReport.to_dict() as JSON), replaced when the run or a
    # judge report with human labels recomputes it.
    con.execute(
        """
        CREATE TABLE trust_reports (
            run_id VARCHAR PRIMARY KEY,
            report JSON,
            created_at TIMESTAMP
        );
        """
    )


def m060_run_executions(con: duckdb.DuckDBPyConnection) -> None:
    """One row per execution of a run: a re-run (same run id) replaces the run's stats in
    ``runs`` but adds a row here, so what each execution cost (calls made, answered from
    the cache, failed, wall time) stays on record."""
    con.execute(
        """
        CREATE TABLE run_executions (
            run_id VARCHAR NOT NULL,
            execution INTEGER NOT NULL,
            status VARCHAR NOT NULL,
            started_at TIMESTAMP,
            finished_at TIMESTAMP NOT NULL,
            wall_s DOUBLE,
            calls_planned BIGINT,
            calls_made BIGINT,
            calls_cached BIGINT,
            calls_failed BIGINT,
            stats JSON,
            PRIMARY KEY (run_id, execution)
        );
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m002_checklists", m002_checklists),
    ("m010_listwise", m010_listwise),
    ("m011_arena", m011_arena),
    ("m030_icai", m030_icai),
    ("m020_meta", m020_meta),
    ("m040_turns", m040_turns),
    ("m050_trust", m050_trust),
    ("m060_run_executions", m060_run_executions),
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
