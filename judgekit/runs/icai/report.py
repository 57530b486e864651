"""The reconstruction report: how well a constitution lets the judge recover the labels.

On held-out pairs the judge compares the two texts with the ordinary pairwise protocol
(both orders, combined by :func:`judgekit.protocols.debias.combine_orders`) under several
conditions, and its verdicts are scored against the annotators' labels (Findeis et al.,
*Inverse Constitutional AI*, 2024, measure a constitution the same way):

- ``none``: the default pairwise criteria, i.e. the judge with no constitution;
- ``constitution``: the constitution's criteria text, as ``compare --rubric`` renders it;
- ``principle_NN``: each principle of the constitution alone.

``agreement`` counts a tie (an order flip or a ``C`` verdict) as half right, which is what
a coin flip would score, so that a judge cannot look better by abstaining;
``decided_agreement`` is the agreement on the pairs it did decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.progress import Progress

from judgekit.judges.base import Judge
from judgekit.protocols.debias import combine_orders
from judgekit.protocols.pairwise import (
    DEFAULT_CRITERIA,
    PairwiseSpec,
    VerdictMode,
    load_pairwise_template,
    render_request,
)
from judgekit.protocols.parse import parse_pairwise
from judgekit.protocols.pointwise import criteria_text
from judgekit.rubrics.model import Rubric
from judgekit.runs.icai.data import Preference
from judgekit.runs.icai.generate import question_text
from judgekit.runs.icai.rubric import constitution_rubric, criterion_id
from judgekit.runs.runner import ExecutionStats, execute
from judgekit.store.db import Store
from judgekit.types import Candidate, Item

NONE = "none"
CONSTITUTION = "constitution"
REPORT_COLUMNS = [
    "condition",
    "principle",
    "cluster_id",
    "n",
    "correct",
    "wrong",
    "ties",
    "errors",
    "agreement",
    "decided_agreement",
    "tie_rate",
    "flip_rate",
]


@dataclass(frozen=True)
class Condition:
    """One way of prompting the judge: a name and the criteria text it gets."""

    name: str
    criteria: str
    principle: str | None = None
    cluster_id: str | None = None


def conditions_for(rubric: Rubric | None, principles: Sequence[tuple[str, str]]) -> list[Condition]:
    """``none``, then (with a constitution) ``constitution`` and one per principle.

    Args:
        principles: ``(cluster_id, principle)`` in constitution order.
    """
    out = [Condition(NONE, DEFAULT_CRITERIA)]
    if rubric is None:
        return out
    out.append(Condition(CONSTITUTION, criteria_text(rubric)))
    for rank, (cid, principle) in enumerate(principles, start=1):
        # The same one-criterion rubric text a user would get from a one-line constitution.
        alone = constitution_rubric([principle])
        out.append(Condition(criterion_id(rank), criteria_text(alone), principle, cid))
    return out


def reconstruct(
    pairs: Sequence[Preference],
    conditions: Sequence[Condition],
    *,
    judge: Judge,
    store: Store,
    mode: VerdictMode,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, ExecutionStats]:
    """Judge every held-out pair under every condition in both orders.

    Returns one row per (condition, pair): the combined outcome, its status, both request
    hashes and raw replies, and the call counts.
    """
    template = load_pairwise_template("pairwise")
    requests, keys = [], []
    for condition in conditions:
        spec = PairwiseSpec(mode=mode, criteria=condition.criteria)
        for pair in pairs:
            item = Item(prompt_id=pair.pair_id, prompt=question_text(pair.prompt))
            cand_a = Candidate(pair.pair_id, "a", pair.text_a)
            cand_b = Candidate(pair.pair_id, "b", pair.text_b)
            requests.append(render_request(item, cand_a, cand_b, spec=spec, template=template))
            requests.append(render_request(item, cand_b, cand_a, spec=spec, template=template))
            keys.append((condition.name, pair))
    responses, stats = execute(
        requests,
        judge=judge,
        store=store,
        progress=progress,
        description="reconstructing",  # type: ignore[arg-type]
    )
    rows = []
    for index, (name, pair) in enumerate(keys):
        ab_resp, ba_resp = responses[2 * index], responses[2 * index + 1]
        ab, ba = parse_pairwise(ab_resp), parse_pairwise(ba_resp)
        outcome = combine_orders(ab, ba, prompt_id=pair.pair_id, model_a="a", model_b="b")
        failed = next((v for v in (ab, ba) if v.status != "ok"), None)
        rows.append(
            {
                "condition": name,
                "pair_id": pair.pair_id,
                "preferred": pair.preferred,
                "winner": outcome.winner if outcome.status == "ok" else None,
                "win_a": outcome.win_a,
                "win_b": outcome.win_b,
                "tie": outcome.tie,
                "flipped": outcome.flipped,
                "status": outcome.status,
                "error": failed.error if failed is not None else None,
                "request_hash_ab": requests[2 * index].hash_for(judge.id),
                "request_hash_ba": requests[2 * index + 1].hash_for(judge.id),
                "raw_ab": ab_resp.text,
                "raw_ba": ba_resp.text,
            }
        )
    return pd.DataFrame(rows), stats


def report_frame(outcomes: pd.DataFrame, conditions: Sequence[Condition]) -> pd.DataFrame:
    """One row per condition: counts, agreement (ties half), decided agreement, rates."""
    rows = []
    for condition in conditions:
        part = outcomes[outcomes["condition"] == condition.name]
        ok = part[part["status"] == "ok"]
        correct = int((ok["winner"] == ok["preferred"]).sum())
        ties = int((ok["winner"] == "tie").sum())
        wrong = len(ok) - correct - ties
        decided = correct + wrong
        rows.append(
            {
                "condition": condition.name,
                "principle": condition.principle,
                "cluster_id": condition.cluster_id,
                "n": len(part),
                "correct": correct,
                "wrong": wrong,
                "ties": ties,
                "errors": len(part) - len(ok),
                "agreement": (correct + 0.5 * ties) / len(ok) if len(ok) else np.nan,
                "decided_agreement": correct / decided if decided else np.nan,
                "tie_rate": ties / len(ok) if len(ok) else np.nan,
                "flip_rate": float(ok["flipped"].mean()) if len(ok) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)
