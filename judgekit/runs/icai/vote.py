"""Stage 3 of ICAI: test every candidate principle on every training pair.

For each (principle, pair) the judge says which response the principle selects, or that
it is not relevant (``C``). Both position orders are asked, as the pairwise protocol does
against position bias (Zheng et al., 2023), and combined by
:func:`judgekit.protocols.debias.combine_orders`: orders that agree give the vote,
disagreement becomes an abstention, and with logprobs the two orders' probabilities are
averaged. A vote is *for* when the principle selects the text the annotator preferred,
*against* when it selects the other, *abstain* when it is not relevant or flips with the
order, and *error* when a call failed or its reply could not be read.

Per principle: ``relevance = (for + against) / (for + against + abstain)``,
``accuracy = for / (for + against)`` and ``net = for - against`` (Findeis et al., 2024).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from rich.progress import Progress

from judgekit.inputs.templates import PromptTemplate, load_template
from judgekit.judges.base import Judge
from judgekit.protocols.debias import combine_orders
from judgekit.protocols.fencing import fence
from judgekit.protocols.parse import CHOICES, parse_pairwise
from judgekit.runs.icai.data import Preference
from judgekit.runs.icai.generate import question_text
from judgekit.runs.runner import EMPTY_STATS, ExecutionStats, execute
from judgekit.store.db import Store
from judgekit.types import JudgeRequest, JudgeResponse, Message, Verdict

VoteMode = Literal["logprobs", "generate"]
Order = Literal["ab", "ba"]

TEMPLATE = "icai_vote"
VARIABLES = frozenset({"principle", "question", "response_a", "response_b", "output_format"})
PREFIX = "Answer:"
GENERATE_MAX_TOKENS = 24
OUTPUT_FORMAT: dict[VoteMode, str] = {
    "logprobs": (
        "Reply with exactly one letter: A if the principle selects Response A, B if it "
        "selects Response B, or C if the principle is not relevant to these two responses."
    ),
    "generate": (
        "Reply with one letter and nothing else: A if the principle selects Response A, B if "
        "it selects Response B, or C if the principle is not relevant to these two responses."
    ),
}
_NOT_RELEVANT = re.compile(
    r"\bnot\s+relevant\b|\birrelevant\b|\bneither\b|\bdoes\s+not\s+apply\b", re.IGNORECASE
)
CHUNK_REQUESTS = 4096
VOTE_COLUMNS = ["cluster_id", "pair_id", "vote", "flipped", "status", "error"]


def vote_template(name: str = TEMPLATE) -> PromptTemplate:
    """The voting template, checked at load time."""
    return load_template(name, allowed=VARIABLES)


@dataclass(frozen=True)
class PlannedVote:
    cluster_id: str
    pair_id: str
    order: Order
    request: JudgeRequest


def render_vote(
    principle: str,
    pair: Preference,
    *,
    order: Order,
    mode: VoteMode,
    template: PromptTemplate,
) -> JudgeRequest:
    """The request that shows ``text_a`` first (``ab``) or ``text_b`` first (``ba``)."""
    first, second = (pair.text_a, pair.text_b) if order == "ab" else (pair.text_b, pair.text_a)
    text = template.render(
        principle=principle,
        question=fence(question_text(pair.prompt), label="QUESTION"),
        response_a=fence(first, label="RESPONSE A"),
        response_b=fence(second, label="RESPONSE B"),
        output_format=OUTPUT_FORMAT[mode],
    )
    messages = (Message(role="user", content=text),)
    if mode == "logprobs":
        return JudgeRequest(
            messages=messages, choices=CHOICES, assistant_prefix=PREFIX, max_tokens=1
        )
    return JudgeRequest(messages=messages, max_tokens=GENERATE_MAX_TOKENS)


def plan_votes(
    principles: Mapping[str, str],
    pairs: Sequence[Preference],
    *,
    mode: VoteMode,
    template: PromptTemplate | None = None,
) -> list[PlannedVote]:
    """Both orders of every (principle, pair); ``principles`` maps cluster id to text."""
    template = template or vote_template()
    planned = []
    for cid, principle in principles.items():
        for pair in pairs:
            for order in ("ab", "ba"):
                request = render_vote(principle, pair, order=order, mode=mode, template=template)
                planned.append(PlannedVote(cid, pair.pair_id, order, request))  # type: ignore[arg-type]
    return planned


def parse_vote(response: JudgeResponse) -> Verdict:
    """A position-level verdict: first = Response A, second = Response B, tie = not relevant.

    Reads logprobs or a letter like the pairwise parser, and also a plain "not relevant".
    """
    verdict = parse_pairwise(response)
    if verdict.status == "parse_error" and _NOT_RELEVANT.search(response.text):
        return Verdict(status="ok", p_tie=1.0, discrete=True, raw=response.text)
    return verdict


def vote_label(ab: Verdict, ba: Verdict, *, pair: Preference) -> tuple[str, bool, str, str | None]:
    """``(vote, flipped, status, error)`` of one (principle, pair) from its two orders."""
    outcome = combine_orders(ab, ba, prompt_id=pair.pair_id, model_a="a", model_b="b")
    if outcome.status != "ok":
        failed = ab if ab.status != "ok" else ba
        return "error", False, outcome.status, failed.error
    winner = outcome.winner
    if winner == "tie":
        return "abstain", outcome.flipped, "ok", None
    return ("for" if winner == pair.preferred else "against"), outcome.flipped, "ok", None


def run_votes(
    principles: Mapping[str, str],
    pairs: Sequence[Preference],
    *,
    judge: Judge,
    store: Store,
    mode: VoteMode,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, ExecutionStats]:
    """Judge every (principle, pair) in both orders.

    Returns:
        ``raw``: one row per order (request hash, status, probabilities, raw text, error);
        ``votes``: one row per (principle, pair) with vote, flipped, status and error; and
        the call counts.
    """
    template = vote_template()
    raw_rows: list[dict[str, object]] = []
    by_key: dict[tuple[str, str], dict[str, Verdict]] = {}
    stats = EMPTY_STATS
    total = 2 * len(principles) * len(pairs)
    task = progress.add_task("testing principles", total=total) if progress is not None else None
    # A few principles at a time: rendered prompts are dropped after their chunk, so
    # testing 40 principles on thousands of pairs never holds every prompt in memory.
    per_chunk = max(1, CHUNK_REQUESTS // max(1, 2 * len(pairs)))
    ids = list(principles)
    for offset in range(0, len(ids), per_chunk):
        chunk = {cid: principles[cid] for cid in ids[offset : offset + per_chunk]}
        planned = plan_votes(chunk, pairs, mode=mode, template=template)
        responses, chunk_stats = execute(
            [p.request for p in planned], judge=judge, store=store, progress=progress, task=task
        )
        stats = stats + chunk_stats
        for call, response in zip(planned, responses, strict=True):
            verdict = parse_vote(response)
            by_key.setdefault((call.cluster_id, call.pair_id), {})[call.order] = verdict
            raw_rows.append(
                {
                    "cluster_id": call.cluster_id,
                    "pair_id": call.pair_id,
                    "position_order": call.order,
                    "request_hash": call.request.hash_for(judge.id),
                    "status": verdict.status,
                    "p_first": verdict.p_first,
                    "p_second": verdict.p_second,
                    "p_none": verdict.p_tie,
                    "raw": verdict.raw,
                    "error": verdict.error,
                }
            )
    by_pair = {p.pair_id: p for p in pairs}
    vote_rows = []
    for (cid, pid), orders in by_key.items():
        vote, flipped, status, error = vote_label(orders["ab"], orders["ba"], pair=by_pair[pid])
        vote_rows.append(
            {
                "cluster_id": cid,
                "pair_id": pid,
                "vote": vote,
                "flipped": flipped,
                "status": status,
                "error": error,
            }
        )
    raw_columns = ["cluster_id", "pair_id", "position_order", "request_hash", "status"]
    raw_columns += ["p_first", "p_second", "p_none", "raw", "error"]
    return (
        pd.DataFrame(raw_rows, columns=raw_columns),
        pd.DataFrame(vote_rows, columns=VOTE_COLUMNS),
        stats,
    )


def tally(votes: pd.DataFrame, cluster_ids: Sequence[str]) -> pd.DataFrame:
    """Vote counts and rates per principle (clusters with no votes get zeros)."""
    counts = (
        votes.groupby(["cluster_id", "vote"]).size().unstack(fill_value=0)
        if len(votes)
        else pd.DataFrame()
    )
    flips = votes.groupby("cluster_id")["flipped"].sum() if len(votes) else pd.Series(dtype=int)
    rows = []
    for cid in cluster_ids:
        n = {
            v: int(counts.at[cid, v]) if cid in counts.index and v in counts.columns else 0
            for v in ("for", "against", "abstain", "error")
        }
        decided = n["for"] + n["against"]
        voted = decided + n["abstain"]
        rows.append(
            {
                "cluster_id": cid,
                "n_for": n["for"],
                "n_against": n["against"],
                "n_abstain": n["abstain"],
                "n_errors": n["error"],
                "n_flipped": int(flips.get(cid, 0)),
                "relevance": decided / voted if voted else 0.0,
                "accuracy": n["for"] / decided if decided else np.nan,
                "net": n["for"] - n["against"],
            }
        )
    columns = ["cluster_id", "n_for", "n_against", "n_abstain", "n_errors", "n_flipped"]
    return pd.DataFrame(rows, columns=[*columns, "relevance", "accuracy", "net"])
