"""Style control: Bradley-Terry with response-length and markdown covariates.

Judges and voters reward long, heavily formatted answers (Feuer et al. 2024, "Style over
Substance: Failure Modes of LLM Judges in Alignment Benchmarking"). Chatbot Arena and
arena-hard-auto therefore fit a contextual Bradley-Terry model (Li et al. 2024, "Does Style
Matter? Disentangling style and substance in Chatbot Arena")::

    logit P(a beats b) = θ_a - θ_b + xᵀβ

where ``x`` contrasts the two answers' style: for each feature (length, markdown headers,
list items, bold spans) ``(f_a - f_b) / (f_a + f_b)``, then standardised over the battles.
The style-controlled ratings are the θ; β says how much each feature sways the judge.

Features vary per battle, so this model cannot be reduced to pair counts: its cost grows with
the number of comparisons (a Newton step is O(rows · features + models²)).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from judgekit.errors import ConfigError
from judgekit.rank.bootstrap import check_resample, percentile_interval
from judgekit.rank.data import PairwiseData
from judgekit.rank.graph import identifiability
from judgekit.rank.likelihood import DEFAULT_REG
from judgekit.rank.scale import ELO_PER_NAT, Anchor, resolve_anchor, to_elo
from judgekit.rank.ties import logistic
from judgekit.types import Ratings

FloatArray = NDArray[np.float64]


def _standardise(x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std


class _StyleProblem:
    """Penalised negative log-likelihood of the contextual BT model, per comparison."""

    def __init__(
        self, data: PairwiseData, x: FloatArray, *, weight: FloatArray, reg: float, theta_reg: float
    ) -> None:
        self.a, self.b, self.x = data.a, data.b, x
        totals = data.win_a + data.win_b + data.tie
        self.y = (data.win_a + 0.5 * data.tie) / totals  # a tie is half a win each
        self.w = weight * totals
        self.n = data.n_models
        self.k = x.shape[1]
        self.rows = x.shape[0]
        self.reg = reg
        self.theta_reg = theta_reg
        self.gauge = 0.5 / (self.n * self.n)

    def split(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        return params[: self.n], params[self.n :]

    def _residuals(self, params: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        theta, beta = self.split(params)
        z = theta[self.a] - theta[self.b] + self.x @ beta
        p = logistic(z)
        return z, self.w * (self.y - p), self.w * p * (1.0 - p)

    def outer(self, row_weights: FloatArray) -> FloatArray:
        """Σ_rows weight · v vᵀ with v = (e_a - e_b, x): the shape of H and of the meat."""
        n, k = self.n, self.k
        out = np.zeros((n + k, n + k))
        flat = np.bincount(self.a * n + self.b, row_weights, n * n).reshape(n, n)
        sym = flat + flat.T
        out[:n, :n] = np.diag(sym.sum(axis=1)) - sym
        weighted = self.x * row_weights[:, None]
        out[:n, n:] = np.stack(
            [np.bincount(self.a, v, n) - np.bincount(self.b, v, n) for v in weighted.T], axis=1
        ).reshape(n, k)
        out[n:, :n] = out[:n, n:].T
        out[n:, n:] = self.x.T @ weighted
        return out

    def evaluate(self, params: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """Loss, gradient and Hessian, per comparison, with the gauge penalty."""
        theta, beta = self.split(params)
        z, resid, curv = self._residuals(params)
        n, rows = self.n, self.rows
        ll = self.w * (self.y * z - np.logaddexp(0.0, z))
        s = theta.sum()
        f = (-ll.sum() + 0.5 * self.theta_reg * theta @ theta) / rows
        f += 0.5 * self.reg * beta @ beta + 0.5 * self.gauge * s * s
        g_theta = -(np.bincount(self.a, resid, n) - np.bincount(self.b, resid, n))
        g_theta = (g_theta + self.theta_reg * theta) / rows + self.gauge * s
        g_beta = -(self.x.T @ resid) / rows + self.reg * beta
        h = self.outer(curv) / rows
        h[:n, :n] += (self.theta_reg / rows) * np.eye(n) + self.gauge
        h[n:, n:] += self.reg * np.eye(self.k)
        return float(f), np.concatenate([g_theta, g_beta]), h

    def meat(self, params: FloatArray) -> FloatArray:
        """Σ_rows s sᵀ / rows² for the per-row scores s (the sandwich's middle)."""
        _, resid, _ = self._residuals(params)
        return self.outer(resid * resid) / (self.rows * self.rows)


def _fit(problem: _StyleProblem, start: FloatArray) -> tuple[FloatArray, Any]:
    cache: dict[str, Any] = {}

    def evaluate(params: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        key = params.tobytes()
        if cache.get("key") != key:
            cache.update(key=key, value=problem.evaluate(params))
        return cache["value"]  # type: ignore[no-any-return]

    result = minimize(
        lambda p: evaluate(p)[:2],
        start,
        jac=True,
        hess=lambda p: evaluate(p)[2],
        method="trust-exact",
        options={"gtol": 1e-10, "maxiter": 1000},
    )
    params = result.x.copy()
    params[: problem.n] -= params[: problem.n].mean()
    return params, result


def style_controlled_bt(
    data: PairwiseData,
    *,
    reg: float = 0.0,
    anchor: Anchor = None,
    bootstrap: int = 0,
    resample: str = "poisson",
    level: float = 0.95,
    seed: int = 0,
) -> Ratings:
    """Style-controlled Bradley-Terry ratings and style coefficients.

    Args:
        data: Pairwise comparisons with ``features`` (see
            :func:`style_features_from_frame`); ties count half a win each.
        reg: L2 penalty on the standardised style coefficients, per comparison (arena-rank's
            ``reg`` convention; 0 is the plain MLE, as in FastChat).
        anchor: ``None`` for a mean of 1000, a model name, or ``(name, rating)``.
        bootstrap: Rounds of a row-level bootstrap (0: sandwich CIs instead).
        resample: ``"poisson"`` or ``"multinomial"``.
        level: Confidence level.
        seed: Seed of the bootstrap.

    Returns:
        :class:`~judgekit.types.Ratings` (method ``"bt-style"``) with CIs; ``extras`` holds
        ``style_coefficients`` (per standardised feature, on the logit scale) with their
        standard errors.

    Raises:
        ConfigError: the data carry no style features, or bad options.
    """
    if data.features is None:
        raise ConfigError(
            "style control needs per-comparison style features; build the data "
            "with PairwiseData.from_frame(..., style=True)"
        )
    if not reg >= 0:
        raise ConfigError(f"reg must be >= 0, not {reg!r}")
    check_resample(resample)
    anchor_index, _ = resolve_anchor(anchor, data.models)
    x_all, mean, std = _standardise(data.features)
    # A feature that never varies has no coefficient to fit (and a singular Hessian).
    varying = data.features.std(axis=0) > 0
    x = x_all[:, varying]
    ident = identifiability(data.aggregate())
    theta_reg = 0.0 if ident.strongly_connected else DEFAULT_REG
    problem = _StyleProblem(data, x, weight=data.weight, reg=reg, theta_reg=theta_reg)
    start = np.zeros(problem.n + problem.k)
    params, result = _fit(problem, start)
    n = problem.n
    models = data.models
    rating = to_elo(params[:n], models=models, anchor=anchor)
    names = data.feature_names
    coefficients = np.zeros(len(names))
    coefficients[varying] = params[n:]
    extras: dict[str, Any] = {
        "style_coefficients": {f: float(c) for f, c in zip(names, coefficients, strict=True)},
        "constant_features": [f for f, v in zip(names, varying, strict=True) if not v],
        "feature_mean": {f: float(v) for f, v in zip(names, mean, strict=True)},
        "feature_std": {f: float(v) for f, v in zip(names, std, strict=True)},
        "reg": reg,
        "theta_reg": theta_reg,
        "converged": bool(result.success),
        "iterations": int(result.nit),
        "not_identifiable": {models[k]: why for k, why in ident.reasons.items()},
    }
    z = NormalDist().inv_cdf(0.5 + level / 2.0)  # stdlib: scipy.stats costs a second to import
    # Sandwich covariance (Huber 1967), as arena-rank computes for its contextual model.
    _, _, hess = problem.evaluate(params)
    bread = np.linalg.inv(hess)
    cov = bread @ problem.meat(params) @ bread
    coef_se = np.zeros(len(names))
    coef_se[varying] = np.sqrt(np.maximum(np.diag(cov)[n:], 0.0))
    extras["style_coefficient_se"] = {f: float(v) for f, v in zip(names, coef_se, strict=True)}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((bootstrap, n))
        for r in range(bootstrap):
            if resample == "poisson":
                counts = rng.poisson(1.0, len(data)).astype(np.float64)
            else:
                counts = rng.multinomial(len(data), np.full(len(data), 1.0 / len(data)))
            boot = _StyleProblem(
                data, x, weight=data.weight * counts, reg=reg, theta_reg=max(theta_reg, 1e-6)
            )
            samples[r] = _fit(boot, params)[0][:n]
        elo_samples = to_elo(samples, models=models, anchor=anchor)
        ci_low, ci_high = percentile_interval(elo_samples, level=level)
        extras["ci"] = {"method": "bootstrap", "level": level, "rounds": bootstrap}
    else:
        var = np.diag(cov)[:n].copy()
        if anchor_index is not None:
            var = var + cov[anchor_index, anchor_index] - 2.0 * cov[:n, anchor_index]
        se = ELO_PER_NAT * np.sqrt(np.maximum(var, 0.0))
        ci_low, ci_high = rating - z * se, rating + z * se
        extras["ci"] = {"method": "sandwich", "level": level}
    return Ratings(
        models=models,
        rating=tuple(float(v) for v in rating),
        method="bt-style",
        ci_low=tuple(float(v) for v in ci_low),
        ci_high=tuple(float(v) for v in ci_high),
        identifiable=ident.identifiable,
        extras=extras,
    )
