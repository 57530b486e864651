"""Length-controlled win rates against a baseline: a logistic model of the judge's preference
with the length difference as a covariate, read at zero length difference.

Kept in the rank layer because the peer readers (AlpacaEval leaderboards) and the
judge-quality report both compute it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class LengthControl:
    """Raw and length-controlled win rates from :func:`length_controlled_win_rates`."""

    table: pd.DataFrame
    """Per model: model, n, win_rate, lc_win_rate (shares in [0, 1])."""
    length_coef: float
    """β of ``tanh(Δlen/σ)`` in the GLM: > 0 means the judge rewards the longer answer."""


def length_controlled_win_rates(
    comparisons: pd.DataFrame, *, reg: float = 0.01, max_iter: int = 500
) -> LengthControl:
    """Length-controlled win rates from a logistic GLM, in the style of AlpacaEval LC.

    The GLM (Dubois et al. 2024, "Length-Controlled AlpacaEval") regresses the judged score
    of model_a on model identity and the normalised length difference::

        logit P(a beats b) = θ_a − θ_b + β · tanh(Δ / σ),   Δ = len_a − len_b,  σ = std(Δ)

    fitted by penalised maximum likelihood with a fractional response (``win_a + tie/2``,
    so soft and tied outcomes count as they are). The length-controlled win rate of a model
    is its mean predicted score over the comparisons it took part in, with the length term
    set to 0: how often it would win if both answers were equally long. AlpacaEval fits a
    separate GLM per model against one baseline, with a per-model length slope and an
    instruction-difficulty term; this fit shares one β across all models (the judge's length
    sensitivity) and works on any comparison graph, all-pairs included.

    Args:
        comparisons: model_a, model_b, win_a, tie, len_a, len_b and an optional weight.
        reg: L2 penalty on all coefficients, in comparisons; it keeps the fit finite when
            a model wins or loses everything.
        max_iter: iteration cap of the L-BFGS solver.
    """
    frame = comparisons.reset_index(drop=True)
    models = sorted(set(frame["model_a"]) | set(frame["model_b"]))
    index = {m: k for k, m in enumerate(models)}
    a = frame["model_a"].map(index).to_numpy()
    b = frame["model_b"].map(index).to_numpy()
    y = (frame["win_a"] + 0.5 * frame["tie"]).to_numpy(dtype=float)
    w = frame["weight"].to_numpy(dtype=float) if "weight" in frame else np.ones(len(frame))
    delta = (frame["len_a"] - frame["len_b"]).to_numpy(dtype=float)
    sigma = float(delta.std())
    x = np.tanh(delta / sigma) if sigma > 0 else np.zeros_like(delta)
    k = len(models)

    def loss(params: FloatArray) -> tuple[float, FloatArray]:
        theta, beta = params[:k], params[k]
        eta = theta[a] - theta[b] + beta * x
        # log(1 + e^η) − y·η is the fractional-response logistic loss, stable via logaddexp.
        value = float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta)))
        resid = w * (_sigmoid(eta) - y)
        grad = np.zeros(k + 1)
        np.add.at(grad, a, resid)
        np.add.at(grad, b, -resid)
        grad[k] = float(np.sum(resid * x))
        return value + 0.5 * reg * float(params @ params), grad + reg * params

    fit = optimize.minimize(
        loss, np.zeros(k + 1), jac=True, method="L-BFGS-B", options={"maxiter": max_iter}
    )
    theta, beta = fit.x[:k], float(fit.x[k])
    controlled = _sigmoid(theta[a] - theta[b])
    long = pd.DataFrame(
        {
            "model": np.concatenate([frame["model_a"], frame["model_b"]]),
            "score": np.concatenate([y, 1.0 - y]),
            "lc": np.concatenate([controlled, 1.0 - controlled]),
            "w": np.concatenate([w, w]),
        }
    )
    rows = []
    for model, group in long.groupby("model", sort=True):
        total = float(group["w"].sum())
        rows.append(
            {
                "model": model,
                "n": len(group),
                "win_rate": float((group["score"] * group["w"]).sum() / total),
                "lc_win_rate": float((group["lc"] * group["w"]).sum() / total),
            }
        )
    return LengthControl(pd.DataFrame(rows), beta)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = np.exp(-np.logaddexp(0.0, -x))
    return out
