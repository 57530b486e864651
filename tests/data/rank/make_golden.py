"""Regenerate the arena-rank golden files used by tests/test_rank_oracles.py.

Run from the repository root with the dev extra installed (arena-rank pulls in jax):

    python tests/data/rank/make_golden.py

It writes two battle files (a star-shaped graph with ties, and a dense graph with a style
covariate) and arena-rank's ratings for them, so the default test run can check judgekit
against arena-rank without paying arena-rank's per-fit compilation.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def star_battles() -> pd.DataFrame:
    rng = np.random.default_rng(2024)
    k, n = 20, 3000
    theta = np.linspace(-1.5, 1.5, k)
    b = rng.integers(1, k, n)
    p = 1 / (1 + np.exp(-(theta[0] - theta[b])))
    tie = rng.random(n) < 0.25
    win = rng.random(n) < p
    winner = np.where(tie, "tie", np.where(win, "model_a", "model_b"))
    names = np.array([f"model-{i:02d}" for i in range(k)])
    return pd.DataFrame({"model_a": names[0], "model_b": names[b], "winner": winner})


def style_battles() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    k, n = 8, 4000
    theta = np.linspace(-1.0, 1.0, k)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    len_a = rng.integers(50, 800, n)
    len_b = rng.integers(50, 800, n)
    contrast = (len_a - len_b) / (len_a + len_b)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + 1.5 * contrast)))
    tie = rng.random(n) < 0.15
    win = rng.random(n) < p
    names = np.array([f"m{i}" for i in range(k)])
    return pd.DataFrame(
        {
            "model_a": names[a],
            "model_b": names[b],
            "winner": np.where(tie, "tie", np.where(win, "model_a", "model_b")),
            "length_a": len_a,
            "length_b": len_b,
            "header_count_a": rng.integers(0, 4, n),
            "header_count_b": rng.integers(0, 4, n),
            "list_count_a": rng.integers(0, 6, n),
            "list_count_b": rng.integers(0, 6, n),
            "bold_count_a": rng.integers(0, 5, n),
            "bold_count_b": rng.integers(0, 5, n),
        }
    )


def main() -> None:
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
    from arena_rank.utils.data_utils import ContextualPairDataset, PairDataset

    from judgekit.rank.style_features import STYLE_FEATURES, style_contrast

    star = star_battles()
    star.to_csv(HERE / "star_battles.csv", index=False)
    ds = PairDataset.from_pandas(star)
    out = BradleyTerry(n_competitors=len(ds.competitors)).compute_ratings_and_cis(
        ds, ci_method="sandwich"
    )
    golden = {
        "models": list(ds.competitors),
        "rating": [float(x) for x in out["ratings"]],
        "ci_low": [float(x) for x in out["rating_lower"]],
        "ci_high": [float(x) for x in out["rating_upper"]],
    }
    (HERE / "star_arena_rank.json").write_text(json.dumps(golden, indent=1) + "\n")

    style = style_battles()
    style.to_csv(HERE / "style_battles.csv", index=False)
    contrasts = style_contrast(
        style[[f"{f}_a" for f in STYLE_FEATURES]].to_numpy(float),
        style[[f"{f}_b" for f in STYLE_FEATURES]].to_numpy(float),
    )
    frame = style.copy()
    names = [f"x_{f}" for f in STYLE_FEATURES]
    frame[names] = contrasts
    cds = ContextualPairDataset.from_pandas(frame, feature_cols=names, reweighted=False)
    model = ContextualBradleyTerry(n_competitors=len(cds.competitors), n_features=4, reg=0.5)
    cout = model.compute_ratings_and_cis(cds, ci_method="sandwich")
    golden = {
        "models": list(cds.competitors),
        "reg": 0.5,
        "rating": [float(x) for x in cout["ratings"]],
        "ci_low": [float(x) for x in cout["rating_lower"]],
        "coefficients": [float(x) for x in cout["coeffs"]],
    }
    (HERE / "style_arena_rank.json").write_text(json.dumps(golden, indent=1) + "\n")


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
