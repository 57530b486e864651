"""The store as a whole (can it be shown?), the runs list, run comparisons and the
per-prompt drill-down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from judgekit.errors import StoreError
from judgekit.store import dashboard_queries as dq
from judgekit.store.db import Store, open_store
from judgekit.views.boards import Board, leaderboard, outcome_winner

#: The tables the dashboard reads. A store from an older judgekit that has them all can be
#: shown as it is (a read-only view cannot migrate it); one that lacks some cannot.
READ_TABLES = frozenset(
    {
        "runs",
        "items",
        "candidates",
        "judge_calls",
        "verdicts",
        "outcomes",
        "scores",
        "ratings",
        "checklists",
        "checklist_answers",
    }
)

StoreState = Literal["ok", "missing", "empty", "no-runs", "newer", "old", "busy", "error"]

# -- the store as a whole -------------------------------------------------------------------


@dataclass(frozen=True)
class StoreStatus:
    """Whether a store can be shown, and why not when it cannot."""

    state: StoreState
    message: str
    writing: bool = False
    """A judgekit run holds the store's writer lock (it is being written right now)."""


def store_status(path: str | Path) -> StoreStatus:
    """Probe a store file read-only, turning every failure into a state and a message."""
    path = str(path)
    if not Path(path).exists():
        return StoreStatus(
            "missing",
            f"There is no judgekit store at {path}. Create one with judgekit compare "
            "(see below), or start the dashboard with --db pointing at another file.",
        )
    try:
        with open_store(path, read_only=True) as store:
            writing = store.is_writing()
            state = dq.schema_state(store)
            if state == "empty":
                return StoreStatus(
                    "empty",
                    f"{path} holds no judgekit data yet. Fill it with judgekit compare "
                    "(see below).",
                    writing,
                )
            if state == "old" and not READ_TABLES <= dq.table_names(store):
                return StoreStatus(
                    "old",
                    f"{path} was written by an older judgekit. The next judgekit command that "
                    "writes to it (such as judgekit compare) upgrades it; then reload this page.",
                    writing,
                )
            if dq.runs(store).empty:
                return StoreStatus(
                    "no-runs",
                    f"{path} has no runs yet. Start one with judgekit compare (see below).",
                    writing,
                )
            return StoreStatus("ok", "", writing)
    except StoreError as exc:
        text = str(exc)
        if "busy" in text:
            return StoreStatus("busy", text, True)
        if "newer" in text:
            return StoreStatus("newer", text)
        return StoreStatus("error", text)


def runs_table(store: Store) -> pd.DataFrame:
    """All runs, newest first, with the config fields people compare runs by."""
    frame = dq.runs(store)
    if frame.empty:
        return pd.DataFrame(
            columns=["run_id", "kind", "status", "judge", "setup", "size", "started", "seconds"]
        )
    config, stats = frame["config"], frame["stats"]
    seconds = (frame["finished_at"] - frame["started_at"]).dt.total_seconds()
    return pd.DataFrame(
        {
            "run_id": frame["run_id"],
            "kind": frame["kind"],
            "status": frame["status"],
            "judge": config.map(lambda c: c.get("judge") or ""),
            "setup": config.map(_setup_text),
            "size": stats.map(_size_text),
            "started": frame["started_at"],
            "seconds": seconds.round(1),
        }
    )


def _size_text(stats: dict[str, Any]) -> str:
    for key in ("comparisons", "responses", "models"):
        if stats.get(key) is not None:
            return f"{stats[key]} {key}"
    return ""


def _setup_text(config: dict[str, Any]) -> str:
    keys = ("rubric", "schedule", "verdict_mode", "mode", "method", "ties", "disagreement")
    return ", ".join(f"{k}={config[k]}" for k in keys if config.get(k) not in (None, ""))


# -- drill-down -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptDetail:
    """Everything stored about one prompt of a run."""

    item: dict[str, Any]
    candidates: pd.DataFrame
    verdicts: pd.DataFrame
    """Per comparison and order: shown first / second, probabilities, verdict, judge reply."""
    outcomes: pd.DataFrame
    scores: pd.DataFrame
    checklist: pd.DataFrame


def prompt_detail(store: Store, *, run_id: str, prompt_id: str) -> PromptDetail | None:
    """The prompt, each answer, both per-order verdicts with the judge's reply, the combined
    outcomes, and scores or checklist answers; None when the run has no such prompt."""
    found = dq.item(store, run_id=run_id, prompt_id=prompt_id)
    if found is None:
        return None
    candidates = dq.prompt_candidates(store, run_id=run_id, prompt_id=prompt_id)
    candidates["characters"] = candidates["output"].str.len()
    return PromptDetail(
        item=found,
        candidates=candidates,
        verdicts=order_table(dq.prompt_verdicts(store, run_id=run_id, prompt_id=prompt_id)),
        outcomes=outcome_table(dq.prompt_outcomes(store, run_id=run_id, prompt_id=prompt_id)),
        scores=dq.prompt_scores(store, run_id=run_id, prompt_id=prompt_id),
        checklist=dq.prompt_checklist_answers(store, run_id=run_id, prompt_id=prompt_id),
    )


def order_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per-order verdicts in model terms: which model was shown first, P(first), P(second),
    P(tie), the verdict (a model name, ``tie``, or the failure status) and the judge's reply."""
    a_first = verdicts["position_order"] == "ab"
    first = np.where(a_first, verdicts["model_a"], verdicts["model_b"])
    second = np.where(a_first, verdicts["model_b"], verdicts["model_a"])
    winner = outcome_winner(verdicts["p_first"], verdicts["p_second"], verdicts["p_tie"])
    verdict = np.where(winner == "a", first, np.where(winner == "b", second, "tie"))
    verdict = np.where(verdicts["status"] == "ok", verdict, verdicts["status"])
    return pd.DataFrame(
        {
            "pair": verdicts["model_a"].astype(str) + " vs " + verdicts["model_b"].astype(str),
            "order": verdicts["position_order"],
            "shown first": first,
            "shown second": second,
            "P(first)": verdicts["p_first"],
            "P(second)": verdicts["p_second"],
            "P(tie)": verdicts["p_tie"],
            "verdict": verdict,
            "judge reply": verdicts["raw"].fillna("") + verdicts["error"].fillna(""),
        }
    )


def outcome_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Combined outcomes with the winner named: model_a, model_b, P(a wins), P(b wins),
    P(tie), winner, flipped."""
    winner = outcome_winner(outcomes["win_a"], outcomes["win_b"], outcomes["tie"])
    named = np.where(
        winner == "a", outcomes["model_a"], np.where(winner == "b", outcomes["model_b"], "tie")
    )
    return pd.DataFrame(
        {
            "model_a": outcomes["model_a"],
            "model_b": outcomes["model_b"],
            "P(a wins)": outcomes["win_a"],
            "P(b wins)": outcomes["win_b"],
            "P(tie)": outcomes["tie"],
            "winner": np.where(outcomes["status"] == "ok", named, outcomes["status"]),
            "flipped": outcomes["flipped"],
        }
    )


# -- runs -----------------------------------------------------------------------------------


def compare_boards(before: Board, after: Board) -> pd.DataFrame:
    """Side-by-side ranks and ratings of two leaderboards, with the change from ``before`` to
    ``after`` (a positive rank change means the model moved up). Models in only one board
    keep NaN on the other side."""
    left = before.frame[["model", "rank", "rating"]].rename(
        columns={"rank": "rank_before", "rating": "rating_before"}
    )
    right = after.frame[["model", "rank", "rating"]].rename(
        columns={"rank": "rank_after", "rating": "rating_after"}
    )
    merged = left.merge(right, on="model", how="outer")
    merged["rank_change"] = merged["rank_before"] - merged["rank_after"]
    merged["rating_change"] = merged["rating_after"] - merged["rating_before"]
    for column in ("rank_before", "rank_after", "rank_change"):
        merged[column] = pd.array(merged[column].round(), dtype="Int64")
    merged = merged.sort_values(["rank_after", "rank_before", "model"], na_position="last")
    return merged[
        ["model", "rank_before", "rank_after", "rank_change", "rating_before", "rating_after"]
        + ["rating_change"]
    ].reset_index(drop=True)


@dataclass(frozen=True)
class RunComparison:
    """Two runs' leaderboards by the same method, and how each model moved."""

    before: Board
    after: Board
    changes: pd.DataFrame


def compare_runs(store: Store, *, before: str, after: str, method: str = "bt") -> RunComparison:
    """Leaderboards of two runs side by side with rank and rating changes (see
    :func:`compare_boards`)."""
    first = leaderboard(store, run_id=before, method=method)
    second = leaderboard(store, run_id=after, method=method)
    return RunComparison(before=first, after=second, changes=compare_boards(first, second))
