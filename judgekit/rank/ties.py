"""Per-pair log-likelihood of the Bradley-Terry tie models, with first and second derivatives.

For a pair (i, j) with rating difference ``d = θ_i - θ_j`` and aggregated (possibly soft,
weighted) counts ``w`` (i won), ``l`` (j won) and ``t`` (tie), with ``N = w + l + t``:

- ``"half"``: a tie is half a win each (Bradley & Terry 1952, as FastChat and arena-rank do)::

      ℓ = (w + t/2) log σ(d) + (l + t/2) log σ(-d)

- ``"davidson"`` (Davidson 1970, "On extending the Bradley-Terry model to accommodate ties"),
  with tie parameter ``ν = exp(η)``::

      P(i) = π_i / Z,  P(j) = π_j / Z,  P(tie) = ν √(π_i π_j) / Z,  Z = π_i + π_j + ν √(π_i π_j)

- ``"rao-kupper"`` (Rao & Kupper 1967, "Ties in paired-comparison experiments"), with
  threshold ``κ = log θ_RK = exp(η) > 0``::

      P(i) = σ(d - κ),  P(j) = σ(-d - κ),  P(tie) = 1 - P(i) - P(j) = sinh κ / (cosh d + cosh κ)

Every ℓ is linear in the counts, so soft outcomes and weights need no special case. The
derivatives are of the log-likelihood (to be maximised); callers negate them for a loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

FloatArray = NDArray[np.float64]
TieModel = Literal["half", "davidson", "rao-kupper"]
TIE_MODELS: tuple[str, ...] = ("half", "davidson", "rao-kupper")
_LOG2 = float(np.log(2.0))


@dataclass(frozen=True)
class PairTerms:
    """Per-pair log-likelihood terms; the η entries are ``None`` for ``"half"``."""

    ll: FloatArray | None
    g_d: FloatArray
    g_eta: FloatArray | None = None
    h_dd: FloatArray | None = None
    h_deta: FloatArray | None = None
    h_etaeta: FloatArray | None = None


def has_tie_parameter(ties: str) -> bool:
    """Whether the tie model fits a tie parameter η along with the ratings."""
    return ties != "half"


def logistic(x: FloatArray) -> FloatArray:
    """σ(x) through tanh: no overflow warnings, and several times faster than expit here."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _softplus(x: FloatArray) -> FloatArray:
    return np.logaddexp(0.0, x)


def _logcosh(x: FloatArray) -> FloatArray:
    ax = np.abs(x)
    return ax + np.log1p(np.exp(-2.0 * ax)) - _LOG2


def pair_terms(
    ties: str,
    d: FloatArray,
    *,
    eta: FloatArray | float = 0.0,
    stats: FloatArray,
    value: bool = True,
    hessian: bool = True,
) -> PairTerms:
    """Log-likelihood terms of each pair.

    Args:
        ties: ``"half"``, ``"davidson"`` or ``"rao-kupper"``.
        d: Rating differences ``θ_i - θ_j`` (natural-log scale), shape ``(..., P)``.
        eta: Tie parameter η, shape ``(...)`` broadcast over pairs (ignored for ``"half"``).
        stats: Counts ``(w, l, t)`` per pair, shape ``(..., P, 3)``.
        value: Also return ℓ itself.
        hessian: Also return second derivatives.

    Returns:
        The per-pair ℓ, ∂ℓ/∂d, ∂ℓ/∂η and the second derivatives.
    """
    w, lo, t = stats[..., 0], stats[..., 1], stats[..., 2]
    n = w + lo + t
    if ties == "half":
        y = w + 0.5 * t
        p = logistic(d)
        ll = -(y * _softplus(-d) + (n - y) * _softplus(d)) if value else None
        h = -n * p * (1.0 - p) if hessian else None
        return PairTerms(ll=ll, g_d=y - n * p, h_dd=h)

    eta_b = np.asarray(eta, dtype=np.float64)[..., None]
    if ties == "davidson":
        log_z = np.logaddexp(np.logaddexp(0.5 * d, -0.5 * d), eta_b)
        p_i = np.exp(0.5 * d - log_z)
        p_j = np.exp(-0.5 * d - log_z)
        p_t = np.exp(eta_b - log_z)
        diff = p_i - p_j
        ll = 0.5 * (w - lo) * d + t * eta_b - n * log_z if value else None
        terms = {"ll": ll, "g_d": 0.5 * (w - lo) - 0.5 * n * diff, "g_eta": t - n * p_t}
        if hessian:
            terms["h_dd"] = -n * (0.25 * (p_i + p_j) - 0.25 * diff * diff)
            terms["h_deta"] = 0.5 * n * diff * p_t
            terms["h_etaeta"] = -n * p_t * (1.0 - p_t)
        return PairTerms(**terms)

    if ties == "rao-kupper":
        kappa = np.exp(eta_b)
        u = d - kappa
        v = -d - kappa
        s_i = expit(u)
        s_j = expit(v)
        # log sinh κ, stable for small and large κ.
        log_sinh = kappa + np.log(-np.expm1(-2.0 * kappa)) - _LOG2
        log_pt = log_sinh - np.logaddexp(_logcosh(d), _logcosh(kappa))
        p_t = np.exp(log_pt)
        q_u = s_i * (1.0 - s_i)
        q_v = s_j * (1.0 - s_j)
        safe_pt = np.maximum(p_t, 1e-300)
        r_u = np.where(t > 0, q_u / safe_pt, 0.0)
        r_v = np.where(t > 0, q_v / safe_pt, 0.0)
        g_u = w * (1.0 - s_i) - t * r_u
        g_v = lo * (1.0 - s_j) - t * r_v
        ll = None
        if value:
            ll = -w * _softplus(-u) - lo * _softplus(-v) + np.where(t > 0, t * log_pt, 0.0)
        g_k = -g_u - g_v
        terms = {"ll": ll, "g_d": g_u - g_v, "g_eta": kappa * g_k}
        if hessian:
            h_uu = -w * q_u + t * (-r_u * (1.0 - 2.0 * s_i) - r_u * r_u)
            h_vv = -lo * q_v + t * (-r_v * (1.0 - 2.0 * s_j) - r_v * r_v)
            h_uv = -t * r_u * r_v
            terms["h_dd"] = h_uu - 2.0 * h_uv + h_vv
            terms["h_deta"] = kappa * (h_vv - h_uu)
            terms["h_etaeta"] = kappa * kappa * (h_uu + 2.0 * h_uv + h_vv) + kappa * g_k
        return PairTerms(**terms)

    raise ValueError(f"unknown tie model {ties!r}")


def tie_parameter(ties: str, eta: float) -> dict[str, float]:
    """The fitted tie parameter in the paper's own parametrisation."""
    if ties == "davidson":
        return {"nu": float(np.exp(eta))}
    if ties == "rao-kupper":
        kappa = float(np.exp(eta))
        return {"theta": float(np.exp(kappa)), "kappa": kappa}
    return {}
