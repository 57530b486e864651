"""The judgekit dashboard: ``judgekit dashboard --db judgekit.duckdb`` (or
``streamlit run dashboards/app.py -- --db judgekit.duckdb``).

This entry script sets the page up and hands over to the page chosen in the navigation. Each
page in ``pages/`` starts with :func:`dashboard_common.page` (store checks, run picker,
run-in-progress banner) and holds layout and widgets only; the numbers come from
:mod:`judgekit.views`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# The pages import the shared helpers next to this file, in a checkout and in the wheel alike.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

st.set_page_config(page_title="judgekit", page_icon=":material/balance:", layout="wide")

PAGES = [
    st.Page(
        "pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True
    ),
    st.Page("pages/head_to_head.py", title="Head to head", icon=":material/compare_arrows:"),
    st.Page("pages/judge_quality.py", title="Judge quality", icon=":material/fact_check:"),
    st.Page("pages/drill_down.py", title="Drill-down", icon=":material/manage_search:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
]

st.navigation(PAGES).run()
