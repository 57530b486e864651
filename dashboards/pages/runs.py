"""Runs: every run with its config, and two runs side by side with their rank changes."""

from __future__ import annotations

import dashboard_common as common
import pandas as pd
import streamlit as st

from judgekit import views

common.page("Runs", show_run=False)
st.caption("Every run in this store, newest first. Pick one to see its full configuration.")

runs: pd.DataFrame = common.load("runs")
st.dataframe(
    runs,
    hide_index=True,
    column_config={
        "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
        "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
    },
)

ids = list(runs["run_id"])
chosen = st.selectbox("Configuration of", ids, key="runs_config")
info = common.load("run_info", run_id=chosen) or {}
left, right = st.columns(2)
with left:
    st.caption("Config")
    st.json(info.get("config", {}), expanded=True)
with right:
    st.caption("Stats")
    st.json(info.get("stats", {}), expanded=True)
    st.caption("Versions")
    st.json(info.get("versions", {}), expanded=False)

st.subheader("Compare two runs")
if len(ids) < 2:
    st.info("Only one run so far; a second run can be compared with it.")
    st.stop()
left, middle, right = st.columns(3)
before = left.selectbox("Before", ids, index=1, key="runs_before")
after = middle.selectbox("After", ids, index=0, key="runs_after")
shared = [
    m for m in common.load("methods", run_id=before) if m in common.load("methods", run_id=after)
]
if not shared:
    st.info("These two runs have no rating method in common.")
    st.stop()
method = right.selectbox("Method", shared, format_func=views.method_label, key="runs_method")
comparison: views.RunComparison = common.load(
    "compare_runs", before=before, after=after, method=method
)

changes = comparison.changes.copy()
changes["move"] = [
    "–" if pd.isna(c) else ("▲ " + str(c) if c > 0 else ("▼ " + str(-c) if c < 0 else "="))
    for c in changes["rank_change"]
]
st.caption(
    "Rank changes from the before run to the after run (▲ moved up). Ranks are CI-aware, so "
    "a change of rank means the intervals moved, not just the point estimates."
)
st.dataframe(
    changes[
        [
            "model",
            "rank_before",
            "rank_after",
            "move",
            "rating_before",
            "rating_after",
            "rating_change",
        ]
    ],
    hide_index=True,
    column_config={
        "model": st.column_config.TextColumn("Model"),
        "rank_before": st.column_config.NumberColumn("Rank before", format="%d"),
        "rank_after": st.column_config.NumberColumn("Rank after", format="%d"),
        "move": st.column_config.TextColumn("Move"),
        "rating_before": st.column_config.NumberColumn("Rating before", format="%.1f"),
        "rating_after": st.column_config.NumberColumn("Rating after", format="%.1f"),
        "rating_change": st.column_config.NumberColumn("Change", format="%+.1f"),
    },
)
left, right = st.columns(2)
for column, board, name in ((left, comparison.before, before), (right, comparison.after, after)):
    with column:
        st.caption(views.markdown_escape(f"{name} · {views.method_label(method)}"))
        common.show_notes(board.notes)
        common.board_table(board, compact=True)
