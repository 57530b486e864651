"""Stage 4 of ICAI: filter the tested principles and pick the constitution.

A principle qualifies when it decides enough pairs (``relevance``), agrees with the
annotators on enough of them (``accuracy``) and has more votes for than against. The
constitution is then either the top ``k`` by ``net = for - against`` (ties: higher
accuracy, then higher relevance, then the larger cluster), or, with ``coverage``, a greedy
decision list: each next principle is the one that decides the most training pairs that
no earlier principle decided, correctly minus wrongly. That is how a judge that reads the
constitution in order uses it, and it skips paraphrases of a principle already chosen
(the ICAI reference code reaches diversity another way, by clustering the filtered
principles again; Findeis et al., *Inverse Constitutional AI*, 2024).
"""

from __future__ import annotations

import pandas as pd


def qualifying(stats: pd.DataFrame, *, min_relevance: float, min_accuracy: float) -> pd.DataFrame:
    """The principles that pass the filters, best first by net votes."""
    ok = stats[
        (stats["relevance"] >= min_relevance)
        & (stats["accuracy"].fillna(0.0) >= min_accuracy)
        & (stats["net"] > 0)
    ]
    keys = ["net", "accuracy", "relevance", "size", "cluster_id"]
    ascending = [False, False, False, False, True]
    present = [k for k in keys if k in ok.columns]
    return ok.sort_values(present, ascending=ascending[: len(present)], kind="mergesort")


def select_principles(
    stats: pd.DataFrame,
    votes: pd.DataFrame,
    *,
    max_principles: int,
    min_relevance: float,
    min_accuracy: float,
    coverage: bool,
) -> list[str]:
    """Cluster ids of the constitution, in order.

    Args:
        stats: one row per tested principle (:func:`judgekit.runs.icai.vote.tally`, plus
            ``size``).
        votes: one row per (principle, pair) with its ``vote``, for ``coverage``.
    """
    ranked = qualifying(stats, min_relevance=min_relevance, min_accuracy=min_accuracy)
    candidates = list(ranked["cluster_id"])
    if not coverage:
        return candidates[:max_principles]
    decided = votes[votes["vote"].isin(["for", "against"])]
    by_principle = {
        cid: dict(zip(group["pair_id"], group["vote"], strict=True))
        for cid, group in decided.groupby("cluster_id")
    }
    chosen: list[str] = []
    covered: set[str] = set()
    while len(chosen) < max_principles:
        best, best_gain = None, 0
        for cid in candidates:  # best-first order breaks ties in gain
            if cid in chosen:
                continue
            fresh = {p: v for p, v in by_principle.get(cid, {}).items() if p not in covered}
            gain = sum(v == "for" for v in fresh.values()) - sum(
                v == "against" for v in fresh.values()
            )
            if gain > best_gain:
                best, best_gain = cid, gain
        if best is None:
            break
        chosen.append(best)
        covered |= set(by_principle.get(best, {}))
    return chosen
