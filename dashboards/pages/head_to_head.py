"""Head to head: the observed win-rate matrix and the win probabilities BT predicts."""

from __future__ import annotations

import dashboard_common as common
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from judgekit import views

run_id = common.page("Head to head")
category = common.category_picker(run_id, key="h2h_category")

result: views.HeadToHead | None = common.load("head_to_head", run_id=run_id, category=category)
if result is None:
    common.nothing_to_rank(
        run_id, reason="This run has no pairwise comparisons (it is a grading or rank-only run)."
    )
common.show_notes(result.board.notes)


def heatmap(matrix: pd.DataFrame, *, title: str, hover: str) -> go.Figure:
    """A row-vs-column heatmap in percent; escaped labels keep model names inert."""
    order = [m for m in result.board.frame["model"] if m in matrix.index] or list(matrix.index)
    matrix = matrix.reindex(index=order, columns=order)
    labels = [views.inert_label(m) for m in order]
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=float),
            x=labels,
            y=labels,
            zmin=0.0,
            zmax=1.0,
            colorscale="RdBu",
            texttemplate="%{z:.0%}",
            hovertemplate=hover + "<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": "opponent", "side": "bottom"},
        yaxis={"title": "model", "autorange": "reversed"},
        height=max(360, 160 + 70 * len(order)),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


left, right = st.columns(2)
with left:
    st.plotly_chart(
        heatmap(
            result.observed,
            title="Observed win rate (row vs column)",
            hover="%{y} vs %{x}: %{z:.1%}",
        )
    )
    st.caption(
        "Share of the row model's comparisons with the column model that it won, a tie "
        "counting half, with both position orders combined. Blank cells: never compared."
    )
with right:
    st.plotly_chart(
        heatmap(
            result.predicted,
            title="Bradley-Terry predicted win probability",
            hover="P(%{y} beats %{x}) = %{z:.1%}",
        )
    )
    st.caption(
        "Probability that the row model beats the column model according to the fitted "
        "Bradley-Terry ratings (a tie counting half). It also covers pairs never compared."
    )

with st.expander("Comparisons per pair"):
    st.dataframe(result.counts)
