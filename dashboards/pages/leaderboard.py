"""Leaderboard: ranks with CIs by any method, a rating chart, and method / category switches."""

from __future__ import annotations

import dashboard_common as common
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from judgekit import views

run_id = common.page("Leaderboard")
common.trust_banner(run_id)

methods: list[str] = common.load("methods", run_id=run_id)
if not methods:
    common.nothing_to_rank(run_id)

families = list(dict.fromkeys(views.method_family(m) for m in methods))
left, middle, right = st.columns(3)
with left:
    # Linked to the ``method`` query parameter, so a shared link opens the same view.
    family = common.linked_selectbox(
        "Method", families, key="method", format_func=views.method_label
    )
method = family
if family in views.SCORE_PREFIXES:
    criteria = [m for m in methods if views.method_family(m) == family]
    method = middle.selectbox(
        "Rubric criterion",
        criteria,
        format_func=lambda m: m.partition(":")[2],
        key=f"lb_criterion_{family}",
    )
with right:
    category = common.category_picker(run_id, key="lb_category")

board: views.Board = common.load("board", run_id=run_id, method=method, category=category)
common.show_notes(board.notes)
if board.frame.empty:
    st.info("Nothing to rank for this selection.")
    st.stop()

elo_scale = board.scale == "elo"
top = board.frame.iloc[0]
decimals = 1 if elo_scale else 2
cols = st.columns([3, 2, 3, 1])
# st.metric renders its value as markdown: a model named "**x**" or "[x](javascript:...)"
# must show as typed.
cols[0].metric("Top model", views.markdown_escape(top["model"]))
cols[1].metric("Rating" if elo_scale else "Mean score", f"{top['rating']:.{decimals}f}")
cols[2].metric("95 % CI", views.format_ci(top["ci_low"], top["ci_high"], decimals=decimals))
cols[3].metric("Models", len(board.frame))

if elo_scale:
    st.caption(
        "Ratings are on the Elo scale (mean 1000; 400 points = 10:1 odds). The rank is "
        "CI-aware: 1 + the number of models whose 95 % interval lies entirely above this "
        "model's, so models whose intervals overlap share a rank. Win rate counts a tie as "
        "half a win."
    )
else:
    st.caption(
        "Mean rubric or checklist scores per model with 95 % bootstrap intervals over prompts."
    )

common.board_table(board)

frame = board.frame.iloc[::-1]  # best at the top of a horizontal chart
rating = frame["rating"].to_numpy(dtype=float)
has_ci = bool(frame["ci_low"].notna().all() and frame["ci_high"].notna().all())
labels = [views.inert_label(m) for m in frame["model"]]
figure = go.Figure(
    go.Scatter(
        x=rating,
        y=labels,
        mode="markers",
        marker={"size": 11, "color": "#3b6fb6"},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": (frame["ci_high"].to_numpy(dtype=float) - rating) if has_ci else None,
            "arrayminus": (rating - frame["ci_low"].to_numpy(dtype=float)) if has_ci else None,
            "visible": has_ci,
            "thickness": 2,
            "width": 6,
        },
        customdata=np.array(
            [
                views.format_ci(lo, hi, decimals=decimals)
                for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)
            ]
        ),
        hovertemplate="%{y}: %{x:.1f} (95 % CI %{customdata})<extra></extra>",
    )
)
figure.update_layout(
    title="Ratings with 95 % confidence intervals" if elo_scale else "Mean scores with 95 % CIs",
    xaxis_title=("Rating · " if elo_scale else "Score · ") + views.method_label(method),
    height=max(260, 60 + 42 * len(frame)),
    margin={"l": 10, "r": 10, "t": 50, "b": 40},
    showlegend=False,
)
st.plotly_chart(figure)
