"""K-wise rankings: Plackett-Luce by maximum likelihood (choix) and Bayesian online (openskill).

- :func:`plackett_luce`: the Plackett-Luce model (Luce 1959; Plackett 1975) fitted with choix's
  I-LSR (Maystre & Grossglauser 2015, "Fast and Accurate Inference of Plackett-Luce Models"),
  for listwise judges that order K answers at once.
- :func:`openskill_ratings`: K-Sort Arena's approach (Li et al. 2024, "K-Sort Arena: Efficient
  and Reliable Benchmarking for Generative Models via K-wise Human Preferences"): a Gaussian
  skill per model, updated after each K-wise ranking by Bayesian moment matching (Weng & Lin
  2011, "A Bayesian Approximation Method for Online Ranking"), through openskill. It reports
  the posterior mean and σ of each model.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.bootstrap import check_resample, percentile_interval
from judgekit.rank.data import PairwiseData, RankingData
from judgekit.rank.graph import graph_identifiability
from judgekit.rank.scale import ELO_PER_NAT, Anchor, to_elo
from judgekit.types import Ratings

FloatArray = NDArray[np.float64]

#: choix's ``alpha`` (a prior pseudo-count in the LSR Markov chain) used when the rankings do
#: not identify every model; without it I-LSR has no unique stationary distribution.
DEFAULT_ALPHA = 0.01


def _as_rankings(data: RankingData | PairwiseData) -> tuple[RankingData, dict[str, Any]]:
    if isinstance(data, RankingData):
        return data, {}
    rankings, dropped = RankingData.from_pairwise(data)
    if not rankings.rankings:
        raise ConfigError("no decisive comparisons to rank (every comparison is a tie)")
    return rankings, {"dropped_ties": dropped}


def _ranking_identifiability(data: RankingData) -> Any:
    n = data.n_models
    src = [r[k] for r in data.rankings for k in range(len(r) - 1)]
    dst = [r[k + 1] for r in data.rankings for k in range(len(r) - 1)]
    appearances = np.bincount([m for r in data.rankings for m in r], minlength=n)
    return graph_identifiability(
        n,
        src=np.asarray(src, dtype=np.int64),
        dst=np.asarray(dst, dtype=np.int64),
        rows_per_model=appearances.astype(np.int64),
    )


def _fit_pl(n: int, rankings: list[tuple[int, ...]], alpha: float) -> tuple[FloatArray, str]:
    import choix  # here: it imports scipy.stats, a second of start-up for every command

    try:
        return np.asarray(choix.ilsr_rankings(n, rankings, alpha=alpha, max_iter=500)), "ilsr"
    except RuntimeError:
        # I-LSR can oscillate on nearly separable data; Newton-CG on the penalised
        # likelihood is slower but always settles.
        params = choix.opt_rankings(n, rankings, alpha=max(alpha, 1e-6), method="Newton-CG")
        return np.asarray(params) - np.mean(params), "opt"


def plackett_luce(
    data: RankingData | PairwiseData,
    *,
    alpha: float | None = None,
    anchor: Anchor = None,
    bootstrap: int = 0,
    resample: str = "poisson",
    level: float = 0.95,
    seed: int = 0,
) -> Ratings:
    """Plackett-Luce ratings on the Elo scale, fitted by choix's I-LSR.

    Args:
        data: K-wise rankings, or pairwise comparisons (hard outcomes; a whole-number weight
            repeats the comparison; ties are dropped, since a strict ranking cannot hold one,
            and counted in ``extras``).
        alpha: choix's regularisation. ``None`` (default): 0 when the rankings identify every
            model, :data:`DEFAULT_ALPHA` otherwise.
        anchor: ``None`` for a mean of 1000, a model name, or ``(name, rating)``.
        bootstrap: Rounds of a bootstrap over rankings (0 for none).
        resample: ``"poisson"`` or ``"multinomial"``.
        level: Level of the percentile intervals.
        seed: Seed of the bootstrap.

    Returns:
        :class:`~judgekit.types.Ratings` with method ``"pl"``.

    Raises:
        ConfigError: soft outcomes, fractional weights, or no decisive comparisons.
    """
    check_resample(resample)
    rankings, extras = _as_rankings(data)
    n = rankings.n_models
    ident = _ranking_identifiability(rankings)
    if alpha is None:
        alpha = 0.0 if ident.strongly_connected else DEFAULT_ALPHA
    rows = list(rankings.rankings)
    theta, solver = _fit_pl(n, rows, alpha)
    models = rankings.models
    rating = to_elo(theta, models=models, anchor=anchor)
    extras |= {
        "alpha": alpha,
        "solver": solver,
        "n_rankings": len(rows),
        "not_identifiable": {models[k]: why for k, why in ident.reasons.items()},
    }
    ci_low = ci_high = None
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        samples = np.empty((bootstrap, n))
        for r in range(bootstrap):
            if resample == "poisson":
                counts = rng.poisson(1.0, len(rows))
            else:
                counts = rng.multinomial(len(rows), np.full(len(rows), 1.0 / len(rows)))
            replicate = [row for row, c in zip(rows, counts, strict=True) for _ in range(c)]
            # A replicate can lose a model's only win, so it is always regularised a little.
            samples[r] = _fit_pl(n, replicate, max(alpha, DEFAULT_ALPHA))[0]
        elo_samples = to_elo(samples, models=models, anchor=anchor)
        ci_low, ci_high = percentile_interval(elo_samples, level=level)
        extras["ci"] = {"method": "bootstrap", "level": level, "rounds": bootstrap}
    return Ratings(
        models=models,
        rating=tuple(float(x) for x in rating),
        method="pl",
        ci_low=None if ci_low is None else tuple(float(x) for x in ci_low),
        ci_high=None if ci_high is None else tuple(float(x) for x in ci_high),
        identifiable=ident.identifiable,
        extras=extras,
    )


def _pairwise_games(data: PairwiseData) -> list[tuple[list[int], list[int]]]:
    """Each comparison as (models, ranks): the most probable outcome decides, ties share."""
    data = data.with_unit_weights()
    games = []
    for a, b, wa, wb, t in zip(
        data.a.tolist(),
        data.b.tolist(),
        data.win_a.tolist(),
        data.win_b.tolist(),
        data.tie.tolist(),
        strict=True,
    ):
        if wa > max(wb, t):
            ranks = [1, 2]
        elif wb > max(wa, t):
            ranks = [2, 1]
        else:
            ranks = [1, 1]
        games.append(([a, b], ranks))
    return games


def openskill_ratings(
    data: RankingData | PairwiseData,
    *,
    mu: float = 25.0,
    sigma: float = 25.0 / 3.0,
    beta: float = 25.0 / 6.0,
    tau: float = 0.0,
    level: float = 0.95,
    anchor: Anchor = None,
) -> Ratings:
    """Bayesian online K-wise ratings (K-Sort Arena style) through openskill's Plackett-Luce.

    Every model starts at N(mu, sigma²); each ranking (or pairwise comparison) updates the
    skills of the models in it, in the order given. ``tau`` adds variance before each update
    to follow drifting skills; the default 0 treats LLM skill as fixed.

    The posterior mean maps to the Elo scale through the Plackett-Luce win probability of two
    settled models, ``σ((μ_i - μ_j) / (β√2))``, so ``rating = 400/ln 10 · μ / (β√2)`` before
    anchoring; the interval is ``μ ± z·σ`` on the same scale.

    Args:
        data: K-wise rankings (best first) or pairwise comparisons (the most probable outcome
            of a soft comparison counts; ties share a rank; a whole-number weight repeats the
            game).
        mu: Prior mean skill.
        sigma: Prior skill standard deviation.
        beta: Performance noise.
        tau: Dynamics (added skill variance per update).
        level: Level of the normal intervals.
        anchor: ``None`` for a mean of 1000, a model name, or ``(name, rating)``.

    Returns:
        :class:`~judgekit.types.Ratings` with method ``"openskill"``; ``extras`` holds the
        posterior ``mu`` and ``sigma`` of every model.
    """
    from openskill.models import PlackettLuce

    model = PlackettLuce(mu=mu, sigma=sigma, beta=beta, tau=tau)
    n = data.n_models
    players = [model.rating() for _ in range(n)]
    if isinstance(data, RankingData):
        games = [(list(r), list(range(1, len(r) + 1))) for r in data.rankings]
    else:
        games = _pairwise_games(data)
    for members, ranks in games:
        updated = model.rate([[players[m]] for m in members], ranks=ranks)
        for m, team in zip(members, updated, strict=True):
            players[m] = team[0]
    mus = np.array([p.mu for p in players])
    sigmas = np.array([p.sigma for p in players])
    scale = 1.0 / (beta * np.sqrt(2.0))
    rating = to_elo(mus * scale, models=data.models, anchor=anchor)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)  # stdlib: scipy.stats costs a second to import
    half_width = z * sigmas * scale * ELO_PER_NAT
    appeared = np.zeros(n, dtype=np.int64)
    for members, _ in games:
        appeared[members] += 1
    return Ratings(
        models=data.models,
        rating=tuple(float(x) for x in rating),
        method="openskill",
        ci_low=tuple(float(x) for x in rating - half_width),
        ci_high=tuple(float(x) for x in rating + half_width),
        identifiable=tuple(bool(c >= 2) for c in appeared),
        extras={
            "mu": tuple(float(x) for x in mus),
            "sigma": tuple(float(x) for x in sigmas),
            "beta": beta,
            "tau": tau,
            "ci": {"method": "posterior", "level": level},
            "n_games": len(games),
        },
    )
