"""AlpacaEval's length-controlled win rates against a baseline, for any judgekit run.

The comparisons with the baseline become AlpacaEval preferences and each model gets
AlpacaEval's own GLM (:mod:`judgekit.rank.peers.alpaca_eval`), so that every figure called
"LC" in judgekit is AlpacaEval's.  Kept in the rank layer because the peer readers
(AlpacaEval leaderboards) and the judge-quality report both compute it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError


@dataclass(frozen=True)
class LengthControl:
    """Raw and length-controlled win rates from :func:`length_controlled_win_rates`."""

    table: pd.DataFrame
    """Per model: model, n, win_rate, lc_win_rate (shares in [0, 1])."""
    length_coef: float
    """Mean over models of the GLM's ``tanh(Δlen/σ)`` slope, signed so that > 0 means the
    judge rewards the longer answer."""


#: Fewest models against the baseline for which instruction difficulty is estimated.
MIN_MODELS_FOR_DIFFICULTY = 5


def length_controlled_win_rates(
    comparisons: pd.DataFrame, *, baseline: str | None = None
) -> LengthControl:
    """AlpacaEval's length-controlled win rates (Dubois et al. 2024) against one baseline.

    Every comparison with the baseline becomes an AlpacaEval preference (the other
    model's score ``win + tie/2``); each model then gets AlpacaEval's own GLM,
    :func:`judgekit.rank.peers.alpaca_eval.length_controlled`: a per-model logistic
    regression on ``tanh`` of the standardised length difference and the instruction
    difficulty, predicted at equal length.  Instruction difficulty is estimated jointly
    over the models (:func:`~judgekit.rank.peers.alpaca_eval.instruction_difficulty`)
    when at least :data:`MIN_MODELS_FOR_DIFFICULTY` models faced the baseline; with fewer,
    per-instruction effects would only echo each verdict, so the term is left out.

    Args:
        comparisons: model_a, model_b, win_a, win_b, tie, len_a, len_b, and prompt_id when
            instructions are to be told apart (else every row is its own instruction).
        baseline: the model every other is measured against; by default the one in the
            most comparisons (among equals, the last by name).
    """
    from judgekit.rank.peers import alpaca_eval as peer

    frame = comparisons.reset_index(drop=True)
    if baseline is None:
        counts = pd.concat([frame["model_a"], frame["model_b"]]).value_counts()
        top = counts[counts == counts.max()].index
        baseline = str(sorted(map(str, top))[-1])
    a_is_base = (frame["model_a"] == baseline).to_numpy()
    keep = a_is_base | (frame["model_b"] == baseline).to_numpy()
    if not keep.any():
        raise ConfigError(f"no comparison involves the baseline {baseline!r}")
    f, base_first = frame[keep], a_is_base[keep]
    score_b = (f["win_b"] + 0.5 * f["tie"]).to_numpy(dtype=float)
    key = f["prompt_id"].astype(str) if "prompt_id" in f else pd.Series(f.index.astype(str))
    annotations = pd.DataFrame(
        {
            "model": np.where(base_first, f["model_b"], f["model_a"]).astype(str),
            "baseline": baseline,
            "instruction": key.to_numpy(),
            "position": pd.factorize(key)[0],
            "preference": 1.0 + np.where(base_first, score_b, 1.0 - score_b),
            "len_1": np.where(base_first, f["len_a"], f["len_b"]).astype(float),
            "len_2": np.where(base_first, f["len_b"], f["len_a"]).astype(float),
        }
    )
    many = annotations["model"].nunique() >= MIN_MODELS_FOR_DIFFICULTY
    difficulty = (
        peer.instruction_difficulty(annotations)
        if many
        else pd.Series(0.0, index=pd.Index(annotations["instruction"].unique()))
    )
    rows, slopes = [], []
    for model, group in annotations.groupby("model", sort=True):
        lc = peer.length_controlled(group, difficulty)
        # AlpacaEval's Δ is baseline minus model: a judge that rewards length has w_len < 0.
        slopes.append(-lc["w_len"])
        rows.append(
            {
                "model": model,
                "n": len(group),
                "win_rate": float(np.nanmean(group["preference"] - 1.0)),
                "lc_win_rate": lc["length_controlled_winrate"] / 100,
            }
        )
    rows.append({"model": baseline, "n": int(keep.sum()), "win_rate": 0.5, "lc_win_rate": 0.5})
    return LengthControl(pd.DataFrame(rows), float(np.nanmean(slopes)))
