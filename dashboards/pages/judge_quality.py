"""Judge quality: position flips, ties, parse failures, biases, human agreement and usage."""

from __future__ import annotations

import math

import dashboard_common as common
import streamlit as st

from judgekit import views

run_id = common.page("Judge quality")
st.caption(
    "How far to trust this run's judge. Each pair is judged in both orders: a flip means the "
    "winner changed when the answers swapped places. A share far from 50 % for the first "
    "position or for the longer answer means position or length bias."
)
trust = common.trust_banner(run_id)

quality: views.JudgeQuality = common.load("quality", run_id=run_id)
common.show_notes(quality.notes)
metrics = quality.metrics.set_index("metric") if not quality.metrics.empty else None


def percent(name: str) -> str:
    """A metric as a percentage, or a dash when the run does not have it."""
    if metrics is None or name not in metrics.index:
        return "–"
    value = float(metrics.loc[name, "value"])
    return "–" if math.isnan(value) else f"{value:.1%}"


cols = st.columns(4)
cols[0].metric("Position flip rate", percent("position flip rate"))
cols[1].metric("Tie rate", percent("tie rate"))
pairwise_failures = percent("parse-failure rate")
cols[2].metric(
    "Parse failures",
    pairwise_failures if pairwise_failures != "–" else percent("score parse-failure rate"),
)
cols[3].metric("Longer answer wins", percent("length bias"))

st.subheader("Can this judge be trusted?")
if trust is None:
    st.info(
        "No trust report is stored for this run. Runs judged by a judgekit that writes trust "
        "reports store one, with the flip rate, position preference, separation and, where "
        "human labels exist, accuracy against them and the trivial baselines."
    )
else:
    if not trust.warnings:
        st.success("The trust report of this run raised no warning.", icon=":material/check:")
    st.dataframe(
        trust.figures,
        hide_index=True,
        column_config={
            "figure": st.column_config.TextColumn("Figure"),
            "value": st.column_config.TextColumn("Value"),
            "ci": st.column_config.TextColumn("95 % CI"),
            "what": st.column_config.TextColumn("What it measures"),
        },
    )
    if not trust.has_labels:
        st.caption(
            "Accuracy against humans and the trivial baselines appear when the run has human "
            "labels: judgekit meta --run RUN_ID --human LABELS_FILE"
        )

if metrics is not None:
    table = quality.metrics.copy()
    table["value"] = table["value"] * 100
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "metric": st.column_config.TextColumn("Measure"),
            "value": st.column_config.NumberColumn("Value", format="%.1f%%"),
            "n": st.column_config.NumberColumn("Out of", format="%d"),
            "detail": st.column_config.TextColumn("What it counts"),
        },
    )

st.subheader("Agreement with human labels")
if quality.human is None:
    st.info(
        "No human labels exist for this run, so agreement with humans cannot be measured "
        "here. Store some with: judgekit meta --run RUN_ID --human LABELS_FILE"
    )
else:
    st.dataframe(quality.human, hide_index=True)

st.subheader("Latency, tokens and cost per judge")
if quality.usage.empty:
    st.info("No judge calls are linked to this run.")
else:
    st.dataframe(
        quality.usage,
        hide_index=True,
        column_config={
            "mean_latency_s": st.column_config.NumberColumn("Mean latency (s)", format="%.3f"),
            "p95_latency_s": st.column_config.NumberColumn("p95 latency (s)", format="%.3f"),
            "prompt_tokens": st.column_config.NumberColumn("Prompt tokens", format="%d"),
            "completion_tokens": st.column_config.NumberColumn("Completion tokens", format="%d"),
            "cost": st.column_config.NumberColumn("Cost", format="%.4f"),
        },
    )
    st.caption("Empty cells: the judge did not report that figure.")
