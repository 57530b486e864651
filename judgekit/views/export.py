"""Between the store and files: export a run's comparisons and ratings, import peer judgments.

Export formats:

- ``csv``, ``parquet``, ``jsonl``: the table as it is stored (``outcomes``, ``verdicts`` or
  ``ratings``);
- ``battles``: outcomes as Chatbot Arena battles (with both conversations when the run
  stored its answers), readable by ``judgekit rank`` and arena-rank;
- ``alpaca-eval``: outcomes as AlpacaEval ``annotations.json`` (with a baseline, also its
  ``leaderboard.csv`` beside it, computed as AlpacaEval computes it);
- ``mtbench``: per-order verdicts as FastChat's ``gpt-4_pair.jsonl``;
- ``arena-hard``: per-order verdicts as arena-hard-auto judgment files (needs a baseline).

Import: :func:`import_run` stores peer judgments (an outcomes frame, optionally with its
per-order verdicts and the answers) as a run of kind ``import``, so that the leaderboard,
the judge-quality report and the dashboard read them like any judged run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from judgekit.errors import ConfigError, InputError, StoreError
from judgekit.inputs.formats import store_verdict_winners, write_frame
from judgekit.store import meta_queries as mq
from judgekit.store import queries
from judgekit.store.db import Store

EXPORT_FORMATS = ("csv", "parquet", "jsonl", "battles", "alpaca-eval", "mtbench", "arena-hard")
EXPORT_TABLES = ("outcomes", "verdicts", "ratings")


def export_run(
    store: Store,
    *,
    run_id: str,
    path: str | Path,
    fmt: str,
    table: str = "outcomes",
    method: str = "bt",
    baseline: str | None = None,
) -> list[Path]:
    """Write one table of a stored run in a file format.

    Args:
        run_id: the run.
        path: the file to write (a folder for ``arena-hard``).
        fmt: one of :data:`EXPORT_FORMATS`.
        table: ``outcomes``, ``verdicts`` or ``ratings`` for csv/parquet/jsonl; the peer
            formats pick their own (battles and alpaca-eval: outcomes; mtbench and
            arena-hard: verdicts).
        method: the rating method, for ``table="ratings"``.
        baseline: arena-hard's baseline model; AlpacaEval's generator_1 (optional).

    Raises:
        ConfigError: unknown format or table, or arena-hard without a baseline.
        StoreError: the run has nothing to export.
    """
    from judgekit.inputs.formats.alpaca_eval import (
        alpaca_eval_leaderboard,
        write_alpaca_eval_annotations,
        write_alpaca_eval_leaderboard,
    )
    from judgekit.inputs.formats.arena_hard import write_arena_hard_judgments
    from judgekit.inputs.formats.chatbot_arena import write_battles
    from judgekit.inputs.formats.mtbench import write_mtbench_pair_judgments

    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")
    if table not in EXPORT_TABLES:
        raise ConfigError(f"unknown table {table!r}; use {', '.join(EXPORT_TABLES)}")
    judge = str(mq.run_config(store, run_id=run_id).get("config", {}).get("judge") or "judgekit")
    if fmt in ("csv", "parquet", "jsonl"):
        if table == "ratings":
            frame = queries.leaderboard(store, run_id=run_id, method=method)
        elif table == "verdicts":
            frame = mq.verdicts(store, run_id=run_id)
        else:
            frame = queries.outcomes(store, run_id=run_id)
        _require(frame, run_id=run_id, what=table)
        return [write_frame(frame, path, fmt=fmt)]
    if fmt in ("battles", "alpaca-eval"):
        outcomes = queries.outcomes(store, run_id=run_id)
        _require(outcomes, run_id=run_id, what="outcomes")
        answers = mq.outputs(store, run_id=run_id)
        if fmt == "battles":
            return [write_battles(outcomes.assign(judge=judge), path, outputs=answers)]
        written = [
            write_alpaca_eval_annotations(
                outcomes, path, outputs=answers, baseline=baseline, annotator=judge
            )
        ]
        if baseline:
            # AlpacaEval keeps leaderboard.csv beside the annotations.
            board = alpaca_eval_leaderboard(outcomes, baseline=baseline, outputs=answers)
            written.append(
                write_alpaca_eval_leaderboard(board, Path(path).with_name("leaderboard.csv"))
            )
        return written
    stored = mq.verdicts(store, run_id=run_id)
    _require(stored, run_id=run_id, what="per-order verdicts")
    verdicts = store_verdict_winners(stored).assign(judge=judge)
    if "turn" in stored and (stored["turn"] > 1).any():
        # A later turn of a conversation is its own judgment line, as FastChat writes it.
        verdicts["turn"] = stored["turn"].to_numpy()
        verdicts["prompt_id"] = [
            pid if turn == 1 else f"{pid}-turn{turn}"
            for pid, turn in zip(verdicts["prompt_id"], verdicts["turn"], strict=True)
        ]
    if fmt == "mtbench":
        return [write_mtbench_pair_judgments(verdicts, path, judge=f"{judge}/pair")]
    if not baseline:
        raise ConfigError("arena-hard judgments are against a baseline: pass --baseline MODEL")
    return write_arena_hard_judgments(verdicts, path, baseline=baseline, judge=_safe(judge))


def _safe(name: str) -> str:
    # A judge id such as openai/gpt-4o names a folder; keep it one folder deep.
    return name.replace("/", "_")


def _require(frame: pd.DataFrame, *, run_id: str, what: str) -> None:
    if frame.empty:
        raise StoreError(f"run {run_id!r} has no {what} to export")


def _verdict_rows(run_id: str, verdicts: pd.DataFrame, source: str) -> pd.DataFrame:
    """Model-term peer verdicts as stored per-order verdicts (discrete, position terms)."""
    a_first = verdicts["position_order"] == "ab"
    winner = verdicts["winner"]
    first_wins = ((winner == "model_a") & a_first) | ((winner == "model_b") & ~a_first)
    second_wins = ((winner == "model_b") & a_first) | ((winner == "model_a") & ~a_first)
    ok = winner != "error"
    keys = verdicts[["prompt_id", "model_a", "model_b", "position_order"]].astype(str)
    hashes = [
        "import:" + hashlib.sha256(json.dumps([source, *k]).encode()).hexdigest()[:24]
        for k in keys.itertuples(index=False)
    ]
    return pd.DataFrame(
        {
            "run_id": run_id,
            "prompt_id": verdicts["prompt_id"].astype(str).to_numpy(),
            "model_a": verdicts["model_a"].to_numpy(),
            "model_b": verdicts["model_b"].to_numpy(),
            "position_order": verdicts["position_order"].to_numpy(),
            "request_hash": hashes,
            "status": ok.map({True: "ok", False: "parse_error"}).to_numpy(),
            "p_first": first_wins.astype(float).to_numpy(),
            "p_second": second_wins.astype(float).to_numpy(),
            "p_tie": (winner == "tie").astype(float).to_numpy(),
            "discrete": True,
            "raw": verdicts["raw"].fillna("").astype(str).to_numpy() if "raw" in verdicts else "",
            "error": None,
        }
    )


def import_run(
    store: Store,
    *,
    outcomes: pd.DataFrame,
    source: str,
    judge: str,
    verdicts: pd.DataFrame | None = None,
    outputs: pd.DataFrame | None = None,
    run_id: str | None = None,
    bootstrap: int = 200,
) -> str:
    """Store peer judgments as a run of kind ``import`` and rank them.

    Args:
        outcomes: an outcomes frame (prompt_id, model_a, model_b, win_a, win_b, tie,
            flipped, status).
        source: where the judgments came from (a file name), kept in the run's config.
        judge: the judge that made them (e.g. ``gpt-4``).
        verdicts: the per-order verdicts in model terms, when the format has them.
        outputs: the answers (an outputs frame), for length and style figures.
        run_id: the run id (default: derived from the source and judge, so a re-import
            replaces the earlier one).
        bootstrap: bootstrap rounds for the leaderboard's CIs.

    Returns:
        The run id.
    """
    from judgekit.rank.outcomes import build_leaderboard

    run_id = run_id or "imp-" + hashlib.sha256(f"{source}\x00{judge}".encode()).hexdigest()[:10]
    keys = outcomes[["prompt_id", "model_a", "model_b"]].astype(str)
    repeated = keys.duplicated()
    if repeated.any():
        pid, model_a, model_b = keys[repeated].iloc[0]
        raise InputError(
            f"comparison ({pid!r}, {model_a!r}, {model_b!r}) appears more than once; a run holds "
            "one outcome per comparison (combine the orders with verdicts_to_outcomes)",
            path=source,
        )
    ok = outcomes[outcomes["status"] == "ok"]
    models = sorted(set(outcomes["model_a"]) | set(outcomes["model_b"]))
    stored = outcomes[
        ["prompt_id", "model_a", "model_b", "win_a", "win_b", "tie", "flipped", "status"]
    ].assign(run_id=run_id, prompt_id=outcomes["prompt_id"].astype(str))
    tables: dict[str, pd.DataFrame] = {"outcomes": stored, "verdicts": pd.DataFrame()}
    if verdicts is not None and not verdicts.empty:
        tables["verdicts"] = _verdict_rows(run_id, verdicts, source)
    if outputs is not None and not outputs.empty:
        items = outputs.drop_duplicates("prompt_id")
        tables["items"] = pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": items["prompt_id"].astype(str).to_numpy(),
                "prompt": items["prompt"].to_numpy(),
                "reference": items["reference"].to_numpy() if "reference" in items else None,
                "category": items["category"].to_numpy() if "category" in items else None,
            }
        )
        tables["candidates"] = pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": outputs["prompt_id"].astype(str).to_numpy(),
                "model": outputs["model"].to_numpy(),
                "output": outputs["output"].to_numpy(),
            }
        )
    with store.writer_lock():
        store.create_run(kind="import", config={"source": source, "judge": judge}, run_id=run_id)
        store.replace_rows(run_id, tables)
        board = build_leaderboard(outcomes, models=models, bootstrap=bootstrap)
        store.write_ratings(run_id=run_id, method="bt", frame=board)
        stats = {
            "comparisons": len(outcomes),
            "usable_comparisons": len(ok),
            "flip_rate": float(ok["flipped"].mean()) if len(ok) else 0.0,
            "source": source,
        }
        store.finish_run(run_id, stats=stats)
    return run_id
