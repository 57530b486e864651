"""Shared plumbing of the dashboard pages: which store, cached reads, store states, widgets.

All data comes from :mod:`judgekit.views` (which reads through the store's query modules);
nothing here computes or queries on its own. Model outputs, prompts and judge text are shown
only as plain text (``st.text``, ``st.code``, dataframes and escaped chart labels), never as
markdown or HTML.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import streamlit as st

from judgekit import views
from judgekit.errors import JudgekitError, StoreError
from judgekit.store import dashboard_queries as dq
from judgekit.store.db import Store, open_store

DEFAULT_DB = "judgekit.duckdb"
#: Cached reads expire after this long even when the file did not change.
CACHE_TTL_S = 60
#: How often a page that waits for a writing run checks whether the run has finished.
WATCH_EVERY_S = 5
RUN_KEY = "run"
BUSY_MESSAGE = (
    "A judgekit run is writing to this store right now — the view will refresh when it finishes."
)

# Everything a page can load, by name; each takes the store first, then keyword arguments.
_LOADERS: dict[str, Callable[..., Any]] = {
    "runs": views.runs_table,
    "run_info": dq.run_info,
    "methods": views.method_choices,
    "categories": dq.categories,
    "board": views.leaderboard,
    "head_to_head": views.head_to_head,
    "quality": views.judge_quality,
    "prompts": dq.prompts,
    "prompt": views.prompt_detail,
    "compare_runs": views.compare_runs,
    "trust": views.run_trust,
}


def db_path() -> str:
    """The store to show: ``--db`` after ``streamlit run app.py --``, else $JUDGEKIT_DB."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return str(args.db or os.environ.get("JUDGEKIT_DB") or DEFAULT_DB)


def file_stamp(path: str) -> tuple[int, int]:
    """Modification times of the store and its write-ahead log: the cache key that makes a
    write by a run show up at once while unchanged files are read only once."""
    stamps = []
    for candidate in (Path(path), Path(path + ".wal")):
        try:
            stamps.append(candidate.stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return stamps[0], stamps[1]


@st.cache_data(ttl=CACHE_TTL_S, max_entries=256, show_spinner="Reading the store…")
def _load(path: str, stamp: tuple[Any, ...], name: str, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    del stamp  # part of the cache key only
    store: Store
    with open_store(path, read_only=True) as store:
        return _LOADERS[name](store, **dict(kwargs))


def _stamp(path: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The cache key of a load. A finished run's rows no longer change, so views of finished
    runs are keyed by the runs themselves and survive the writes of a run in progress;
    everything else is keyed by the file's modification times."""
    run_ids = [kwargs[k] for k in ("run_id", "before", "after") if k in kwargs]
    if not run_ids:
        return file_stamp(path)
    runs = load("runs")
    rows = runs[runs["run_id"].isin(run_ids)]
    if len(rows) != len(set(run_ids)) or (rows["status"] == "running").any():
        return file_stamp(path)
    return tuple(rows[["run_id", "status", "started", "seconds"]].astype(str).itertuples())


def load(name: str, **kwargs: Any) -> Any:
    """A cached view of the store; a busy or unreadable store stops the page with a message."""
    path = db_path()
    try:
        return _load(path, _stamp(path, kwargs), name, tuple(sorted(kwargs.items())))
    except StoreError as exc:
        if "busy" not in str(exc):
            _read_error(exc)
        show_busy(path)
    except (JudgekitError, duckdb.Error) as exc:
        _read_error(exc)
    st.stop()


def _read_error(exc: Exception) -> None:
    st.error("The store could not be read.")
    st.code(str(exc), language=None, wrap_lines=True)
    st.stop()


# -- store states ---------------------------------------------------------------------------


def guard_store(path: str) -> views.StoreStatus:
    """Show a helpful page and stop unless the store can be shown; return its status."""
    status = views.store_status(path)
    if status.state == "ok":
        return status
    if status.state == "busy":
        show_busy(path)
        st.stop()
    titles = {
        "missing": "No store yet",
        "empty": "This store is empty",
        "no-runs": "No runs yet",
        "newer": "This store needs a newer judgekit",
        "old": "This store needs an upgrade",
        "error": "The store could not be opened",
    }
    st.title(titles.get(status.state, "The store cannot be shown"))
    st.info(views.markdown_escape(status.message))
    st.caption("Store path")
    st.code(path, language=None)
    if status.state in ("missing", "empty", "no-runs"):
        st.caption("Try the demo arena with a fake judge (no model needed):")
        st.code(
            f"judgekit compare arenas/demo/outputs/*.jsonl --judge fake/hash --db {path}",
            language="bash",
        )
    if st.button("Check again", key="check_again"):
        st.rerun()
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; this keeps type checkers honest


def show_busy(path: str) -> None:
    """The "run in progress" state: a clear message, a refresh button and a watcher."""
    st.title("Run in progress")
    st.warning(BUSY_MESSAGE, icon=":material/hourglass_top:")
    st.button("Refresh now", key="busy_refresh")
    _watch_until_free(path)


@st.fragment(run_every=WATCH_EVERY_S)
def _watch_until_free(path: str) -> None:
    # Skip the check in the run that drew the page: it has just found the store busy, and
    # each check can wait a few seconds for the lock.
    shown_at = st.session_state.setdefault("busy_since", time.monotonic())
    if time.monotonic() - shown_at < WATCH_EVERY_S / 2:
        return
    if views.store_status(path).state != "busy":
        del st.session_state["busy_since"]
        st.rerun()


def writing_banner(path: str) -> None:
    """While a run holds the writer lock, say so and refresh as its batches land."""
    st.info(BUSY_MESSAGE, icon=":material/hourglass_top:")
    if st.button("Refresh now", key="writing_refresh"):
        st.rerun()
    _watch_writes(path, file_stamp(path))


@st.fragment(run_every=WATCH_EVERY_S)
def _watch_writes(path: str, seen: tuple[int, int]) -> None:
    # A new batch (the file changed) or the end of the run: redraw the whole page.
    if file_stamp(path) != seen or not views.store_status(path).writing:
        st.rerun()


# -- shared widgets -------------------------------------------------------------------------


def page(title: str, *, show_run: bool = True) -> str:
    """Set up a page and return the chosen run: a helpful page instead when the store cannot
    be shown, the sidebar (run picker, store path), the run-in-progress banner, the title.

    Every page calls this first, so a page is complete on its own (Streamlit runs the entry
    script, then the page; the test harness runs a switched-to page alone).
    """
    path = db_path()
    status = guard_store(path)
    with st.sidebar:
        run_id = run_picker(load("runs"))
        st.caption("Store")
        st.code(path, language=None, wrap_lines=True)
    if status.writing:
        writing_banner(path)
    st.title(title)
    if show_run:
        run_caption(run_id)
    return run_id


def linked_selectbox(
    label: str,
    options: list[str],
    *,
    key: str,
    format_func: Callable[[Any], str] = str,
    help: str | None = None,
) -> str:
    """A selectbox kept in step with the ``key`` query parameter (the option itself, not its
    label), so that a copied link opens the same run, method or prompt."""
    if st.session_state.get(key) not in options:
        wanted = st.query_params.get(key)
        st.session_state[key] = wanted if wanted in options else options[0]
    value = str(st.selectbox(label, options, key=key, format_func=format_func, help=help))
    st.query_params[key] = value
    return value


def run_picker(runs: Any) -> str:
    """The sidebar's run selector, newest first; the choice carries over between pages."""
    labels = {
        str(row.run_id): f"{row.run_id} · {row.kind} · {row.judge or 'no judge'} · {row.status}"
        for row in runs.itertuples()
    }
    return linked_selectbox(
        "Run", list(labels), key=RUN_KEY, format_func=labels.__getitem__, help="Newest first."
    )


def run_caption(run_id: str) -> None:
    """One line under a page title: the run, its kind, judge and status."""
    info = load("run_info", run_id=run_id) or {}
    judge = info.get("config", {}).get("judge") or "no judge"
    parts = [f"run {run_id}", str(info.get("kind", "")), f"judge {judge}", info.get("status")]
    st.caption(views.markdown_escape(" · ".join(str(p) for p in parts if p)))


def category_picker(run_id: str, *, key: str) -> str | None:
    """A prompt-category selector ("All prompts" = None); hidden when the run has none."""
    found = load("categories", run_id=run_id)
    if not found:
        return None
    options = [None, *found]
    choice = st.selectbox(
        "Prompt category",
        options,
        key=key,
        format_func=lambda c: "All prompts" if c is None else str(c),
    )
    return None if choice is None else str(choice)


def board_table(board: views.Board, *, compact: bool = False) -> None:
    """A leaderboard as a table: ratings to 1 decimal (scores 2), the CI as "low – high",
    win rate as a bar in percent. ``compact`` keeps rank, model, rating and CI only."""
    table = views.display_board(board)
    value = "Rating" if board.scale == "elo" else "Score"
    columns = ["Rank", "Model", value, "95 % CI"] if compact else list(table.columns)
    st.dataframe(
        table,
        hide_index=True,
        column_order=columns,
        column_config={
            "Rank": st.column_config.NumberColumn(format="%d", width="small"),
            "Model": st.column_config.TextColumn(width="medium" if compact else None),
            value: st.column_config.NumberColumn(format="%.1f" if board.scale == "elo" else "%.2f"),
            "Win rate": st.column_config.ProgressColumn(
                format="%.1f%%", min_value=0.0, max_value=100.0
            ),
        },
    )


def nothing_to_rank(
    run_id: str, *, reason: str = "This run stored no ratings and no comparisons to rank."
) -> None:
    """Stop a page for a run with nothing to show: still judging, or ``reason``."""
    info = load("run_info", run_id=run_id) or {}
    if info.get("status") == "running":
        st.info(
            "This run is still judging; its results appear when it finishes. Pick a "
            "finished run in the sidebar to look at it meanwhile.",
            icon=":material/hourglass_top:",
        )
    else:
        st.info(reason)
    st.stop()


def trust_banner(run_id: str) -> views.TrustView | None:
    """A warning banner when the run's stored trust report has warnings; the report (None
    when the run has none). Warnings are shown as plain text, never as markdown."""
    trust: views.TrustView | None = load("trust", run_id=run_id)
    if trust is not None and trust.warnings:
        st.warning(views.banner_markdown(trust.warnings), icon=":material/warning:")
    return trust


def show_notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        st.caption(views.markdown_escape(note))
