"""Drill-down: one prompt, every answer, both per-order verdicts with the judge's reply."""

from __future__ import annotations

import dashboard_common as common
import pandas as pd
import streamlit as st

from judgekit import views

run_id = common.page("Drill-down")
st.caption(
    "Pick a prompt to read the answers and what the judge said about them. Answers and judge "
    "replies are shown as plain text, exactly as stored."
)

prompts: pd.DataFrame = common.load("prompts", run_id=run_id)
if prompts.empty:
    st.info("This run stored no prompts.")
    st.stop()


def prompt_label(prompt_id: str) -> str:
    row = prompts.loc[prompts["prompt_id"] == prompt_id].iloc[0]
    text = " ".join(str(row["prompt"]).split())
    short = text if len(text) <= 90 else text[:89] + "…"
    category = f" · {row['category']}" if isinstance(row["category"], str) else ""
    return f"{prompt_id}{category} · {short}"


# Linked to the ``prompt`` query parameter, so a link can point at one prompt of one run.
prompt_id = common.linked_selectbox(
    "Prompt", [str(p) for p in prompts["prompt_id"]], key="prompt", format_func=prompt_label
)
detail: views.PromptDetail | None = common.load("prompt", run_id=run_id, prompt_id=prompt_id)
if detail is None:
    st.info("The run has no such prompt.")
    st.stop()

st.subheader("Prompt")
st.code(str(detail.item["prompt"]), language=None, wrap_lines=True)
if isinstance(detail.item.get("reference"), str):
    st.caption("Reference answer")
    st.code(detail.item["reference"], language=None, wrap_lines=True)

st.subheader("Answers")
columns = st.columns(min(2, max(1, len(detail.candidates))))
for k, row in enumerate(detail.candidates.itertuples()):
    with columns[k % len(columns)]:
        st.caption(views.markdown_escape(f"{row.model} · {row.characters} characters"))
        st.code(str(row.output), language=None, wrap_lines=True)

if not detail.outcomes.empty:
    st.subheader("Verdicts")
    st.caption(
        "Each pair was judged twice, once in each order. P(first) is the judge's probability "
        "for the answer shown first. The outcome combines both orders."
    )
    st.dataframe(
        detail.outcomes,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("P(a wins)", "P(b wins)", "P(tie)")
        },
    )
    pairs = list(dict.fromkeys(detail.verdicts["pair"]))
    pair = st.selectbox("Pair", pairs, key="dd_pair")
    orders = detail.verdicts[detail.verdicts["pair"] == pair]
    records = orders.to_dict(orient="records")
    for column, row in zip(st.columns(len(records)), records, strict=True):
        with column:
            st.caption(
                views.markdown_escape(
                    f"Order {row['order']}: {row['shown first']} shown first, "
                    f"{row['shown second']} second"
                )
            )
            probs = st.columns(3)
            for slot, name in zip(probs, ("P(first)", "P(second)", "P(tie)"), strict=True):
                slot.metric(name, f"{row[name]:.2f}")
            st.caption("Verdict")
            st.text(str(row["verdict"]))
            st.caption("Judge reply")
            st.code(str(row["judge reply"]) or "(empty)", language=None, wrap_lines=True)
    with st.expander("All per-order verdicts for this prompt"):
        st.dataframe(
            detail.verdicts,
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(format="%.2f")
                for c in ("P(first)", "P(second)", "P(tie)")
            },
        )

if not detail.scores.empty:
    st.subheader("Scores")
    st.caption("Rubric scores per answer, with the judge's raw reply.")
    st.dataframe(detail.scores, hide_index=True)

if not detail.checklist.empty:
    st.subheader("Checklist answers")
    st.dataframe(detail.checklist, hide_index=True)
