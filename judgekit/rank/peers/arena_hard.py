"""arena-hard-auto's leaderboard (v0.1 ``show_result.py``), computed as it computes it.

Battles.  Each judgment pits a model against the baseline on one question, in two games:
game 1 shows the baseline as Assistant A, game 2 swaps the answers.  Every game is one
battle, baseline against model; a strong verdict (``A>>B``, ``B>>A``) is written as
``weight`` (3) identical battles, a weak one or a tie as one, and a game without a verdict
gives none (the other game still counts).  ``first_game_only`` keeps game 1.

Ratings.  A Bradley-Terry fit on Elo's scale, ``P(a beats b) = 1 / (1 + 10^((R_b −
R_a)/400))``: every battle is written twice, a win as two wins and a tie as one win for
each side, and the logistic regression has no penalty.  With the baseline in every battle
the maximum-likelihood rating difference has a closed form: the model's share of the
doubled battles, ``(2·wins + ties) / (2·battles)``, is its predicted win rate against the
baseline.  ``score`` is that win rate in percent (rounded to 2 decimals, as arena-hard
rounds it); ``lower`` and ``upper`` are the 2.5th and 97.5th percentiles of the ratings of
``rounds`` bootstrap resamples of the battles (drawn by ``RandomState(seed).choice`` over
the battle rows, as pandas' ``sample(frac=1, replace=True)`` draws them under arena-hard's
module seed 42), turned into win rates the same way.

Style control (``--style-control``, ``--length-control-only``, ``--markdown-control-only``):
per battle, for each feature (answer tokens; markdown headers, list items, bold spans) the
contrast ``(baseline − model) / (baseline + model + 1)``, standardised over the doubled
battles (population sd), joins the model columns (``±ln 10``) of an L2-penalised logistic
regression (scikit-learn's default ``C = 1``, ``½‖w‖²`` on every coefficient, intercept
free of it: there is none).  The bootstrap draws battle indices with ``RandomState(seed)``;
a tie's two rows travel together, a decisive battle's row is doubled.

The baseline's row is 50 with no interval.  ``avg_tokens`` is the mean ``token_len`` of
a model's answers, truncated to an integer (0 when its answers are not given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from judgekit.errors import ConfigError

FloatArray = NDArray[np.float64]

SCALE = 400.0
BASE = 10.0
INIT_RATING = 1000.0
STRONG_WEIGHT = 3
ROUNDS = 100
SEED = 42
#: Style features in arena-hard's order; ``token_len`` stands for the answer's length.
STYLE_FEATURES = ("token_len", "header_count", "list_count", "bold_count")
CONTROLS: dict[str, tuple[str, ...]] = {
    "style": STYLE_FEATURES,
    "length": ("token_len",),
    "markdown": ("header_count", "list_count", "bold_count"),
}
COLUMNS = ["model", "score", "lower", "upper", "avg_tokens"]


def battles_from_verdicts(
    verdicts: pd.DataFrame,
    *,
    weight: int = STRONG_WEIGHT,
    first_game_only: bool = False,
) -> pd.DataFrame:
    """arena-hard's battle rows from per-game verdicts.

    ``verdicts``: one row per game with ``prompt_id``, ``model_a`` (the baseline),
    ``model_b``, ``position_order`` (``ab`` for game 1), ``winner`` (``model_a``,
    ``model_b``, ``tie`` or ``error``) and ``strength`` (2 for ``>>``), as
    :func:`judgekit.inputs.formats.arena_hard.read_arena_hard_judgments` reads them.
    Returns ``prompt_id``, ``model_a``, ``model_b`` and ``winner`` (no errors), strong
    verdicts repeated ``weight`` times, in the verdicts' order.
    """
    frame = verdicts[verdicts["winner"] != "error"]
    if first_game_only:
        frame = frame[frame["position_order"] == "ab"]
    strong = frame["strength"].to_numpy() == 2 if "strength" in frame else np.zeros(len(frame))
    decisive = frame["winner"].isin(["model_a", "model_b"]).to_numpy()
    repeats = np.where(strong & decisive, weight, 1)
    out = frame.loc[frame.index.repeat(repeats), ["prompt_id", "model_a", "model_b", "winner"]]
    return out.reset_index(drop=True)


def _check_star(battles: pd.DataFrame, baseline: str) -> None:
    if battles.empty:
        raise ConfigError("no battles: every game lacks a verdict")
    if not (battles["model_a"] == baseline).all():
        others = sorted(set(battles["model_a"]) - {baseline})
        raise ConfigError(
            f"arena-hard scores every model against the baseline {baseline!r}; "
            f"found battles of {', '.join(map(str, others))}"
        )


def _share_to_rating(share: FloatArray) -> FloatArray:
    """Elo-scale rating over the baseline whose predicted win rate is ``share``."""
    with np.errstate(divide="ignore"):
        out: FloatArray = SCALE * np.log10(share / (1.0 - share))
    return out


def _rating_to_win_rate(rating: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + BASE ** (-np.asarray(rating, dtype=float) / SCALE))
    return out


def star_ratings(model_index: NDArray[np.int64], winner: NDArray[np.str_], k: int) -> FloatArray:
    """Unpenalised Bradley-Terry ratings over the baseline (baseline = 0), per model.

    Each row is one battle of model ``model_index`` against the baseline; NaN for a model
    with no battle.  A clean sweep gets a huge finite rating, as the solver gives it.
    """
    points = np.where(winner == "model_b", 2.0, np.where(winner == "tie", 1.0, 0.0))
    won = np.bincount(model_index, weights=points, minlength=k)
    total = 2.0 * np.bincount(model_index, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = won / total
    # A clean sweep has no finite maximum; arena-hard's solver stops at a huge rating.
    # Clipping keeps it finite (its win rate still rounds to 0 or 100) so percentiles
    # over bootstrap rounds stay defined.
    return _share_to_rating(np.clip(share, 1e-9, 1 - 1e-9))


def _style_features(
    battles: pd.DataFrame, metadata: pd.DataFrame, features: Sequence[str]
) -> FloatArray:
    """Standardised ``(baseline − model) / (baseline + model + 1)`` per battle and feature."""
    meta = metadata.set_index(["model", "prompt_id"])[list(features)]
    keys_a = pd.MultiIndex.from_arrays([battles["model_a"], battles["prompt_id"]])
    keys_b = pd.MultiIndex.from_arrays([battles["model_b"], battles["prompt_id"]])
    missing = (~keys_a.isin(meta.index)) | (~keys_b.isin(meta.index))
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise ConfigError(
            "style control needs every answer's metadata; none for "
            f"{battles['model_b'].iloc[k]!r} or the baseline on {battles['prompt_id'].iloc[k]!r}"
        )
    va = meta.loc[keys_a].to_numpy(dtype=float)
    vb = meta.loc[keys_b].to_numpy(dtype=float)
    contrast = (va - vb) / (va + vb + 1.0)
    doubled = np.vstack([contrast, contrast])
    std = doubled.std(axis=0)
    out: FloatArray = (contrast - doubled.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out


def l2_logistic(x: FloatArray, y: FloatArray, *, c: float = 1.0) -> FloatArray:
    """argmin_w ``½‖w‖² + c · Σ (log(1 + e^ηᵢ) − yᵢ ηᵢ)``, ``η = x·w``, by Newton's method.

    scikit-learn's ``LogisticRegression()`` default (lbfgs, ``C = 1``, no intercept here).
    """
    k = x.shape[1]
    w = np.zeros(k)
    for _ in range(100):
        eta = x @ w
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = w + c * (x.T @ (p - y))
        hess = np.eye(k) + c * (x * (p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hess, grad)
        w = w - step
        if float(np.abs(step).max()) < 1e-12:
            break
    return w


def _style_ratings(
    model_index: NDArray[np.int64],
    winner: NDArray[np.str_],
    style: FloatArray,
    k: int,
    baseline_index: int,
) -> FloatArray:
    """Style-controlled ratings over the baseline from the doubled battle rows."""
    n = len(model_index)
    x = np.zeros((2 * n, k + style.shape[1]))
    rows = np.arange(2 * n)
    both = np.concatenate([model_index, model_index])
    x[rows, baseline_index] = math.log(BASE)
    x[rows, both] = -math.log(BASE)
    x[:, k:] = np.vstack([style, style])
    y = np.zeros(2 * n)
    a_won = np.concatenate([winner == "model_a", winner == "model_a"])
    y[a_won] = 1.0
    tie = np.concatenate([winner == "tie", np.zeros(n, dtype=bool)])
    y[tie] = 1.0  # a tie: one row won by each side
    coef = l2_logistic(x, y)
    ratings: FloatArray = SCALE * (coef[:k] - coef[baseline_index])
    return ratings


def arena_hard_leaderboard(
    verdicts: pd.DataFrame,
    *,
    baseline: str,
    weight: int = STRONG_WEIGHT,
    first_game_only: bool = False,
    rounds: int = ROUNDS,
    seed: int = SEED,
    control: str | None = None,
    metadata: pd.DataFrame | None = None,
    avg_tokens: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """arena-hard-auto's leaderboard: ``model``, ``score``, ``lower``, ``upper``,
    ``avg_tokens``, sorted by score (see the module doc).

    Args:
        verdicts: per-game verdicts (see :func:`battles_from_verdicts`).
        baseline: the model every judgment compares against.
        control: ``"style"``, ``"length"`` or ``"markdown"`` for style control.
        metadata: per answer ``model``, ``prompt_id`` and the :data:`STYLE_FEATURES`
            counts; needed for style control.
        avg_tokens: ``avg_tokens`` per model (0 for a model not in it).
    """
    battles = battles_from_verdicts(verdicts, weight=weight, first_game_only=first_game_only)
    _check_star(battles, baseline)
    models = list(pd.unique(pd.concat([battles["model_a"], battles["model_b"]])))
    index = {m: i for i, m in enumerate(models)}
    k = len(models)
    model_index = battles["model_b"].map(index).to_numpy()
    winner = battles["winner"].to_numpy().astype(str)
    rng = np.random.RandomState(seed)
    n = len(battles)
    if control is None:
        ratings = star_ratings(model_index, winner, k)
        boot = np.array(
            [
                star_ratings(model_index[rows], winner[rows], k)
                for rows in (rng.choice(n, size=n, replace=True) for _ in range(rounds))
            ]
        )
    else:
        if control not in CONTROLS:
            raise ConfigError(f"unknown style control {control!r}; use {', '.join(CONTROLS)}")
        if metadata is None:
            raise ConfigError("style control needs the answers' metadata")
        style = _style_features(battles, metadata, CONTROLS[control])
        base = index[baseline]
        ratings = _style_ratings(model_index, winner, style, k, base)
        tie = winner == "tie"
        boot_rows = []
        for _ in range(rounds):
            # arena-hard doubles a decisive battle's row and keeps a tie's two rows: the
            # same doubled design as fitting the resampled battles directly.
            picked = rng.choice(n, size=n, replace=True)
            picked = np.concatenate([picked[~tie[picked]], picked[tie[picked]]])
            boot_rows.append(
                _style_ratings(model_index[picked], winner[picked], style[picked], k, base)
            )
        boot = np.array(boot_rows)
    rows = []
    for model in models:
        i = index[model]
        if model == baseline:
            score = lower = upper = 50.0
        else:
            column = boot[:, i]
            column = column[~np.isnan(column)]
            score = _win_rate(ratings[i])
            lower = _win_rate(np.percentile(column, 2.5)) if len(column) else math.nan
            upper = _win_rate(np.percentile(column, 97.5)) if len(column) else math.nan
        rows.append(
            {
                "model": model,
                "score": score,
                "lower": lower,
                "upper": upper,
                "avg_tokens": int((avg_tokens or {}).get(model, 0)),
            }
        )
    board = pd.DataFrame(rows, columns=COLUMNS)
    return board.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def _win_rate(rating: float) -> float:
    """Win rate over the baseline in percent, rounded to 2 decimals as arena-hard does."""
    if math.isnan(rating):
        return math.nan
    return round(float(_rating_to_win_rate(np.array([rating]))[0]) * 100, 2)


__all__ = [
    "COLUMNS",
    "CONTROLS",
    "STYLE_FEATURES",
    "arena_hard_leaderboard",
    "battles_from_verdicts",
    "l2_logistic",
    "star_ratings",
]
