"""Bradley-Terry ratings with ties, weights, anchoring and confidence intervals.

The model (Bradley & Terry 1952; Zermelo 1929) says model i beats model j with probability
``π_i / (π_i + π_j)``. It is fitted by maximum likelihood on counts aggregated per pair and
outcome (:mod:`judgekit.rank.likelihood`), as Chatbot Arena does (Chiang et al. 2024, "Chatbot
Arena: An Open Platform for Evaluating LLMs by Human Preference"), so that 3 million
comparisons among 200 models cost a 200 x 200 problem.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.bootstrap import (
    BTBootstrap,
    bootstrap_bt,
    check_resample,
    finite_fit,
    percentile_interval,
)
from judgekit.rank.counts import PairCounts
from judgekit.rank.data import PairwiseData
from judgekit.rank.graph import identifiability
from judgekit.rank.grouped import GroupedPairwiseData
from judgekit.rank.likelihood import (
    DEFAULT_REG,
    BTFit,
    effective_ties,
    fit_bt,
    laplacian,
    scatter,
)
from judgekit.rank.scale import ELO_PER_NAT, Anchor, resolve_anchor, to_elo
from judgekit.rank.ties import TIE_MODELS, has_tie_parameter, pair_terms, tie_parameter
from judgekit.types import Ratings

FloatArray = NDArray[np.float64]
CIMethod = Literal["bootstrap", "sandwich"]


def sandwich_covariance(counts: PairCounts, fit: BTFit) -> FloatArray:
    """Robust (sandwich) covariance ``H⁻¹ J H⁻¹`` of the fitted parameters (Huber 1967).

    ``H`` is the Hessian of the negative log-likelihood and ``J`` the sum of outer products of
    per-comparison scores, computed per unit of identical rows. The result is the covariance of
    the mean-zero log-strengths (the gauge direction drops out because ``J·1 = 0``), with the
    tie parameter last when there is one. It stays valid when the model is misspecified,
    e.g. when judges are noisier than Bradley-Terry assumes.
    """
    unit_pair = counts.unit_pair
    d = fit.theta[counts.i[unit_pair]] - fit.theta[counts.j[unit_pair]]
    eta = 0.0 if fit.eta is None else fit.eta
    terms = pair_terms(fit.ties, d, eta=eta, stats=counts.unit_stats, value=False, hessian=False)
    c = counts.unit_count
    n = counts.n_models
    s_d = terms.g_d
    j_dd = np.bincount(unit_pair, c * s_d * s_d, counts.n_pairs)
    size = n + (fit.eta is not None)
    meat = np.zeros((size, size))
    meat[:n, :n] = laplacian(counts, j_dd)
    if fit.eta is not None:
        assert terms.g_eta is not None
        s_e = terms.g_eta
        cross = scatter(counts, np.bincount(unit_pair, c * s_d * s_e, counts.n_pairs))
        meat[:n, n] = cross
        meat[n, :n] = cross
        meat[n, n] = float(np.sum(c * s_e * s_e))
    bread = np.linalg.inv(fit.gauged_hessian())
    return bread @ meat @ bread


def _anchored_se(cov: FloatArray, *, n: int, anchor_index: int | None) -> FloatArray:
    """Standard errors of the anchored log-strengths."""
    var = np.diag(cov)[:n].copy()
    if anchor_index is not None:
        m = anchor_index
        var = var + cov[m, m] - 2.0 * cov[:n, m]
    return np.sqrt(np.maximum(var, 0.0))


def _check_options(
    *, ties: str, bootstrap: int, reg: float | None, ci: str | None, level: float
) -> None:
    if ties not in TIE_MODELS:
        raise ConfigError(f"ties must be one of {', '.join(TIE_MODELS)}, not {ties!r}")
    if not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
        raise ConfigError(f"bootstrap must be a whole number >= 0, not {bootstrap!r}")
    if reg is not None and not (np.isfinite(reg) and reg >= 0):
        raise ConfigError(f"reg must be a finite number >= 0, not {reg!r}")
    if ci not in (None, "bootstrap", "sandwich"):
        raise ConfigError(f"ci must be 'bootstrap' or 'sandwich', not {ci!r}")
    if ci == "bootstrap" and bootstrap == 0:
        raise ConfigError("ci='bootstrap' needs bootstrap > 0 rounds")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), not {level!r}")


def bradley_terry(
    data: PairwiseData | GroupedPairwiseData,
    *,
    ties: str = "half",
    anchor: Anchor = None,
    reg: float | None = None,
    bootstrap: int = 0,
    resample: str = "poisson",
    ci: CIMethod | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> Ratings:
    """Fit Bradley-Terry ratings on the Elo scale.

    Args:
        data: Pairwise comparisons (soft outcomes and weights allowed), row by row or
            grouped into distinct rows and their counts (the same fit and bootstrap).
        ties: ``"half"`` (a tie is half a win each, as FastChat and arena-rank count it),
            ``"davidson"`` (Davidson 1970) or ``"rao-kupper"`` (Rao & Kupper 1967); the last
            two fit a tie parameter along with the ratings (:mod:`judgekit.rank.ties`).
        anchor: ``None`` for a mean rating of 1000, a model name to put it at 1000, or
            ``(name, rating)``.
        reg: L2 penalty on log-strengths, in comparisons. ``None`` (default) uses none when
            the data identify every rating and :data:`DEFAULT_REG` otherwise; ``0`` insists on
            the plain MLE.
        bootstrap: Bootstrap rounds (0 for none). Replicates reweight the aggregated counts.
        resample: ``"poisson"`` or ``"multinomial"`` bootstrap.
        ci: ``"bootstrap"`` (percentile intervals; the default when ``bootstrap > 0``) or
            ``"sandwich"`` (robust normal intervals, Huber 1967).
        level: Confidence level of the intervals.
        seed: Seed of the bootstrap.

    Returns:
        :class:`~judgekit.types.Ratings`; ``extras`` holds the tie parameter, convergence
        information, the reasons for flagged models, standard errors and, with a bootstrap,
        the replicate ratings (``bootstrap_ratings``, rounds x models).

    Raises:
        ConfigError: bad options, ``reg=0`` on data whose MLE does not exist, or a tie model
            on data where every comparison is a tie.
    """
    _check_options(ties=ties, bootstrap=bootstrap, reg=reg, ci=ci, level=level)
    check_resample(resample)
    ci = ci or ("bootstrap" if bootstrap > 0 else None)
    anchor_index, _ = resolve_anchor(anchor, data.models)
    counts = data.aggregate()
    ident = identifiability(counts)
    fitted_ties = effective_ties(ties, counts)
    if has_tie_parameter(fitted_ties) and counts.stats[:, :2].sum() <= 0:
        raise ConfigError(
            f"every comparison is a tie, so the {ties} tie parameter has no MLE; use ties='half'"
        )
    if reg is None:
        reg = 0.0 if ident.strongly_connected else DEFAULT_REG
    elif reg == 0 and not ident.strongly_connected:
        first = list(ident.reasons.items())[:5]
        flagged = ", ".join(f"{data.models[k]} ({why})" for k, why in first)
        raise ConfigError(
            "the maximum-likelihood ratings do not exist for these comparisons (the graph of "
            f"wins is not strongly connected): {flagged}. Pass reg > 0 or leave reg=None."
        )
    fit = fit_bt(counts, ties=fitted_ties, reg=reg)
    if reg == 0 and not finite_fit(fit) and has_tie_parameter(fitted_ties):
        # A tie model can lack an MLE even on a strongly connected graph (a win and a tie
        # can be explained by ever larger d and κ together); fall back to the prior.
        reg = DEFAULT_REG
        fit = fit_bt(counts, ties=fitted_ties, reg=reg)
    if not np.all(np.isfinite(fit.theta)):  # pragma: no cover - guarded by regularisation
        raise ConfigError("Bradley-Terry fit diverged; pass a larger reg")
    models = data.models
    rating = to_elo(fit.theta, models=models, anchor=anchor)

    extras: dict[str, Any] = {
        "ties": ties,
        "tie_parameter": tie_parameter(fitted_ties, fit.eta) if fit.eta is not None else {},
        "reg": reg,
        "converged": fit.converged,
        "grad_norm": fit.grad_norm,
        "iterations": fit.iterations,
        "n_comparisons": len(data),
        "total_weight": counts.total,
        "n_pairs": counts.n_pairs,
        "strongly_connected": ident.strongly_connected,
        "not_identifiable": {models[k]: why for k, why in ident.reasons.items()},
    }
    if has_tie_parameter(ties) and fit.eta is None:
        extras["tie_parameter"] = tie_parameter(ties, -np.inf) | {"note": "no ties in the data"}

    ci_low = ci_high = None
    if ci == "sandwich":
        cov = sandwich_covariance(counts, fit)
        se = ELO_PER_NAT * _anchored_se(cov, n=len(models), anchor_index=anchor_index)
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        ci_low, ci_high = rating - z * se, rating + z * se
        extras["se"] = tuple(float(x) for x in se)
    if bootstrap > 0:
        boot: BTBootstrap = bootstrap_bt(
            counts, fit, rounds=int(bootstrap), seed=seed, resample=resample
        )
        samples = to_elo(boot.theta, models=models, anchor=anchor)
        extras["bootstrap_ratings"] = samples
        extras["bootstrap"] = {
            "rounds": int(bootstrap),
            "resample": resample,
            "seed": seed,
            "batched_converged": boot.chord_converged,
            "refitted": boot.refitted,
            "regularised": boot.regularised,
        }
        if ci == "bootstrap":
            ci_low, ci_high = percentile_interval(samples, level=level)
            extras["se"] = tuple(float(x) for x in samples.std(axis=0, ddof=1))
        if boot.eta is not None and fit.eta is not None:
            # exp(η) is ν (Davidson) or κ (Rao-Kupper): finite even for a replicate that drew
            # no ties at all (η = -inf).
            natural = np.exp(np.minimum(boot.eta, 50.0))
            lo, hi = percentile_interval(natural[:, None], level=level)
            low_p = tie_parameter(fitted_ties, float(np.log(lo[0])) if lo[0] > 0 else -np.inf)
            high_p = tie_parameter(fitted_ties, float(np.log(hi[0])) if hi[0] > 0 else -np.inf)
            extras["tie_parameter_ci"] = {key: (low_p[key], high_p[key]) for key in low_p}
    if ci is not None:
        extras["ci"] = {"method": ci, "level": level}
    return Ratings(
        models=models,
        rating=tuple(float(x) for x in rating),
        method=f"bt-{ties}" if ties != "half" else "bt",
        ci_low=None if ci_low is None else tuple(float(x) for x in ci_low),
        ci_high=None if ci_high is None else tuple(float(x) for x in ci_high),
        identifiable=ident.identifiable,
        extras=extras,
    )
