"""arena-hard-auto v2.0's leaderboard (its current ``show_result.py``), as it computes it.

Scores.  A judgment with a failed game is dropped whole.  Each game gives the model
scores: 1 for a win, 0.5 for a tie, 0 for a loss, written ``weight`` (3) times for a
strong verdict; game 2's come first, then game 1's.

Without style control, ``score`` is the mean over ``rounds`` bootstrap rounds of each
model's mean score, every round resampling each model's scores with replacement (in
model order, from one ``RandomState(seed)``, as pandas' ``groupby().sample`` draws);
``lower`` and ``upper`` are the 5th and 95th percentiles of the round means.

With style control, a Bradley-Terry fit of the scores on ``+1`` for the model, ``−1`` for
the baseline and the standardised (sample sd) style contrasts: length
``(model − baseline) / (model + baseline)`` and, per markdown element, the densities per
token ``(model − baseline) / (model + baseline + 1)``; ``rounds`` bootstrap fits on
battle indices drawn by ``RandomState(seed).randint``; ``score``, ``lower`` and ``upper``
are the 50th, 5th and 95th percentiles of the win rate over the baseline.

Rates are in percent here (arena-hard prints fractions); the baseline's row is 50.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.peers.arena_hard import COLUMNS, ROUNDS, SEED, STRONG_WEIGHT

FloatArray = NDArray[np.float64]
MARKDOWN = ("header_count", "list_count", "bold_count")


def scores_from_verdicts(verdicts: pd.DataFrame, *, weight: int = STRONG_WEIGHT) -> pd.DataFrame:
    """Per-score rows (``prompt_id``, ``model``, ``score``) from per-game verdicts."""
    keys = ["prompt_id", "model_a", "model_b"]
    failed = verdicts.groupby(keys, sort=False)["winner"].transform(lambda w: (w == "error").any())
    frame = verdicts[~failed.astype(bool)]
    # arena-hard lists game 2's scores before game 1's within a judgment.
    frame = frame.assign(_game=(frame["position_order"] == "ab").astype(int))
    frame = frame.assign(_j=frame.groupby(keys, sort=False).ngroup())
    frame = frame.sort_values(["_j", "_game"], kind="stable")
    score = frame["winner"].map({"model_b": 1.0, "model_a": 0.0, "tie": 0.5}).to_numpy()
    strong = (frame["strength"].to_numpy() == 2) if "strength" in frame else np.zeros(len(frame))
    repeats = np.where(strong & (score != 0.5), weight, 1)
    return pd.DataFrame(
        {
            "prompt_id": np.repeat(frame["prompt_id"].to_numpy(), repeats),
            "model": np.repeat(frame["model_b"].astype(str).str.split("/").str[-1], repeats),
            "baseline": np.repeat(frame["model_a"].astype(str).to_numpy(), repeats),
            "score": np.repeat(score, repeats),
        }
    )


def _bt_fit(x: FloatArray, y: FloatArray) -> FloatArray:
    """Unpenalised fractional logistic regression by Newton (a 1e-9 ridge keeps it defined
    along the one direction, all model terms shifted together, that the data leave free)."""
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + 1e-9 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(len(w))
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return w


def _style(scores: pd.DataFrame, metadata: pd.DataFrame, baseline: str, control: str) -> FloatArray:
    meta = metadata.assign(model=metadata["model"].astype(str)).set_index(["model", "prompt_id"])
    cols = ["token_len", *MARKDOWN]
    keys_m = pd.MultiIndex.from_arrays([scores["model"], scores["prompt_id"]])
    keys_b = pd.MultiIndex.from_arrays([[baseline] * len(scores), scores["prompt_id"]])
    if (~keys_m.isin(meta.index)).any() or (~keys_b.isin(meta.index)).any():
        raise ConfigError("style control needs every answer's metadata (--answers)")
    vm = meta.loc[keys_m, cols].to_numpy(dtype=float)
    vb = meta.loc[keys_b, cols].to_numpy(dtype=float)
    feats = np.zeros_like(vm)
    feats[:, 0] = (vm[:, 0] - vb[:, 0]) / (vm[:, 0] + vb[:, 0])
    dm, db = vm[:, 1:] / vm[:, :1], vb[:, 1:] / vb[:, :1]
    feats[:, 1:] = (dm - db) / (dm + db + 1)
    std = feats.std(axis=0, ddof=1)
    feats = (feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return feats[:, :1] if control == "length" else feats[:, 1:] if control == "markdown" else feats


def arena_hard_v2_leaderboard(
    verdicts: pd.DataFrame,
    *,
    baseline: str,
    weight: int = STRONG_WEIGHT,
    rounds: int = ROUNDS,
    seed: int = SEED,
    control: str | None = None,
    metadata: pd.DataFrame | None = None,
    avg_tokens: dict[str, int] | None = None,
) -> pd.DataFrame:
    """arena-hard v2.0's leaderboard: ``model``, ``score``, ``lower``, ``upper``,
    ``avg_tokens`` (see the module doc), sorted by score."""
    scores = scores_from_verdicts(verdicts, weight=weight)
    if scores.empty:
        raise ConfigError("no usable judgment: every one has a failed game")
    if not (scores["baseline"] == baseline).all():
        raise ConfigError(f"arena-hard v2.0 scores every model against {baseline!r}")
    scores = scores[scores["model"] != baseline]
    rng = np.random.RandomState(seed)
    rows: list[dict[str, object]] = []
    if control is None:
        groups = {m: g["score"].to_numpy() for m, g in scores.groupby("model", sort=True)}
        means = np.array(
            [
                [v[rng.choice(len(v), size=len(v), replace=True)].mean() for v in groups.values()]
                for _ in range(rounds)
            ]
        )
        for k, model in enumerate(groups):
            column = pd.Series(means[:, k])
            rows.append(
                {
                    "model": model,
                    "score": 100 * float(column.mean()),
                    "lower": 100 * float(column.quantile(0.05)),
                    "upper": 100 * float(column.quantile(0.95)),
                }
            )
    else:
        if metadata is None:
            raise ConfigError("style control needs the answers' metadata")
        models = sorted(set(scores["model"]) | {baseline})
        index = {m: i for i, m in enumerate(models)}
        one_hot = np.zeros((len(scores), len(models)))
        one_hot[np.arange(len(scores)), scores["model"].map(index)] = 1.0
        one_hot[:, index[baseline]] = -1.0
        x = np.hstack([one_hot, _style(scores, metadata, baseline, control)])
        y = scores["score"].to_numpy(dtype=float)
        picks = rng.randint(0, len(y), size=(rounds, len(y)))
        coefs = np.array([_bt_fit(x[p], y[p])[: len(models)] for p in picks])
        rates = 1.0 / (1.0 + np.exp(coefs[:, [index[baseline]]] - coefs))
        for model in models:
            if model == baseline:
                continue
            column = pd.Series(rates[:, index[model]])
            rows.append(
                {
                    "model": model,
                    "score": 100 * float(column.quantile(0.5)),
                    "lower": 100 * float(column.quantile(0.05)),
                    "upper": 100 * float(column.quantile(0.95)),
                }
            )
    rows.append({"model": baseline, "score": 50.0, "lower": 50.0, "upper": 50.0})
    for row in rows:
        row["avg_tokens"] = int((avg_tokens or {}).get(str(row["model"]), 0))
    board = pd.DataFrame(rows, columns=COLUMNS)
    return board.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


__all__ = ["arena_hard_v2_leaderboard", "scores_from_verdicts"]
