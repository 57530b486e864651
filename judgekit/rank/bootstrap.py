"""Bootstrap confidence intervals, batched and vectorised.

Resampling reweights the aggregated counts instead of copying rows. A row-level Poisson
bootstrap (each row drawn Poisson(1) times; Hanley & MacGibbon 2006, Chamandy et al. 2012)
gives a group of ``c`` identical rows a Poisson(c) count, so one draw per *unit* of identical
rows is exact; the multinomial (classic Efron) bootstrap draws all unit counts jointly with
the total fixed. Either way a replicate is a new count table, never a new list of rows.

Bradley-Terry replicates are refitted together: every replicate starts from the full-data MLE
and takes Newton steps with the full-data Hessian (a chord, or simplified Newton, iteration),
vectorised over the replicates. The steps are gradients scaled by the inverse Hessian, and a
replicate is converged when the error they imply (step size times r/(1-r), r the observed rate
of linear convergence) is below ``tol``. The few replicates that do not converge that way
(sparse data, a replicate that breaks the comparison graph) are refitted one by one with the
full optimiser. Chunks of replicates run on a thread pool; each chunk has
its own seeded generator (``SeedSequence.spawn``), so results do not depend on thread timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.counts import PairCounts
from judgekit.rank.graph import identifiability
from judgekit.rank.likelihood import DEFAULT_REG, BTFit, fit_bt, scatter
from judgekit.rank.ties import logistic, pair_terms

FloatArray = NDArray[np.float64]
Resample = Literal["poisson", "multinomial"]
RESAMPLE_METHODS: tuple[str, ...] = ("poisson", "multinomial")
#: Replicates per chunk. Fixed, so that a seed gives the same draws on any machine.
CHUNK = 50
T = TypeVar("T")
_Chunk = tuple[FloatArray, FloatArray | None, int, int, int]


def default_jobs() -> int:
    """Threads for bootstrap chunks: the CPU count (numpy releases the GIL in the hot loops)."""
    return max(1, min(os.cpu_count() or 1, 8))


def check_resample(resample: str) -> None:
    if resample not in RESAMPLE_METHODS:
        choices = ", ".join(RESAMPLE_METHODS)
        raise ConfigError(f"resample must be one of {choices}, not {resample!r}")


class PoissonTable:
    """Exact Poisson(c) sampling by inversion with a guide table, for integer means ``c``.

    Unit counts are integers with few distinct values, so one cumulative table per distinct
    value serves all units. A draw is the smallest ``x`` with ``F(x) >= u``, found from a guide
    table that points into the CDF (Chen & Asau 1974; Devroye 1986, §III.2.4): the guide entry
    is already the answer for almost every draw, and a bisection settles the rest. This is exact
    inversion (the tails beyond 13 standard deviations, below 1e-30, are cut) and about twice
    as fast as numpy's PTRS sampler, whose cost dominates a large bootstrap.
    """

    #: Give up on tables (and use numpy's sampler) above this many table entries.
    MAX_ENTRIES = 4_000_000
    GUIDE = 8  # guide entries per support point

    def __init__(self, counts: FloatArray) -> None:
        from scipy.special import pdtr

        values, self.segment = np.unique(counts.astype(np.int64), return_inverse=True)
        lows = np.maximum(0, np.floor(values - 13 * np.sqrt(values) - 15)).astype(np.int64)
        highs = np.ceil(values + 13 * np.sqrt(values) + 15).astype(np.int64)
        lengths = highs - lows + 1
        self.size = int(lengths.sum()) * (1 + self.GUIDE)
        if self.size > self.MAX_ENTRIES:
            return
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        owner = np.repeat(np.arange(values.shape[0]), lengths)
        support = np.arange(owner.shape[0]) - starts[owner] + lows[owner]
        cdf = pdtr(support, values[owner].astype(np.float64))
        cdf[starts + lengths - 1] = 1.0
        # Guide entry m of a segment: the first support point whose CDF reaches m / M.
        g_len = self.GUIDE * lengths
        g_starts = self.GUIDE * starts
        self.guide = np.concatenate(
            [
                start + np.searchsorted(cdf[start : start + length], np.arange(m) / m)
                for start, length, m in zip(starts, lengths, g_len, strict=True)
            ]
        )
        self.cdf = cdf
        seg = self.segment
        self.unit_scale = g_len[seg].astype(np.float64)
        self.unit_guide = g_starts[seg]
        self.unit_last = (starts + lengths - 1)[seg]
        self.unit_base = (lows - starts)[seg].astype(np.float64)

    @property
    def usable(self) -> bool:
        return self.size <= self.MAX_ENTRIES

    def draw(self, size: int, rng: np.random.Generator) -> FloatArray:
        """``size`` replicates of one Poisson draw per unit, shape ``(size, units)``."""
        u = rng.random((size, self.segment.shape[0]))
        x = (u * self.unit_scale).astype(np.int64)
        x += self.unit_guide
        x = self.guide[x]
        # The guide entry is at most the answer; most draws are already there.
        short = np.flatnonzero(self.cdf[x] < u)
        if short.size:
            # Bisection on the few draws still short: the answer is in (lo, hi], F(hi) = 1.
            flat_x, flat_u = x.reshape(-1), u.reshape(-1)
            cols = short % self.segment.shape[0]
            lo, hi, target = flat_x[short], self.unit_last[cols], flat_u[short]
            while np.any(hi - lo > 1):
                mid = (lo + hi) // 2
                above = self.cdf[mid] >= target
                hi = np.where(above, mid, hi)
                lo = np.where(above, lo, mid)
            flat_x[short] = hi
        return np.add(x, self.unit_base)


def draw_counts(
    counts: FloatArray,
    *,
    size: int,
    rng: np.random.Generator,
    resample: str,
    table: PoissonTable | None = None,
) -> FloatArray:
    """Redraw ``size`` replicates of unit counts, shape ``(size, units)``.

    Args:
        counts: Number of identical rows per unit.
        size: Number of replicates.
        rng: Random generator.
        resample: ``"poisson"`` (independent Poisson(c) per unit) or ``"multinomial"`` (all
            rows redrawn with replacement, the total fixed).
        table: A prebuilt :class:`PoissonTable` for ``counts`` (faster Poisson draws).
    """
    check_resample(resample)
    if resample == "poisson":
        if table is not None and table.usable:
            return table.draw(size, rng)
        return rng.poisson(counts, size=(size, counts.shape[0])).astype(np.float64)
    total = int(round(counts.sum()))
    return rng.multinomial(total, counts / counts.sum(), size=size).astype(np.float64)


def run_chunks(
    work: Callable[[int, np.random.Generator], T],
    *,
    rounds: int,
    seed: int,
    n_jobs: int | None = None,
) -> list[T]:
    """Run ``work(size, rng)`` over chunks of ``rounds`` replicates on a thread pool."""
    sizes = [CHUNK] * (rounds // CHUNK) + ([rounds % CHUNK] if rounds % CHUNK else [])
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(sizes))]
    jobs = min(n_jobs or default_jobs(), len(sizes))
    if jobs <= 1:
        return [work(size, rng) for size, rng in zip(sizes, rngs, strict=True)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(work, sizes, rngs))


def percentile_interval(samples: FloatArray, *, level: float) -> tuple[FloatArray, FloatArray]:
    """Percentile bootstrap interval per column (Efron & Tibshirani 1993, ch. 13)."""
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
    return low, high


@dataclass(frozen=True, eq=False)
class BTBootstrap:
    """Bootstrap replicates of a Bradley-Terry fit.

    Attributes:
        theta: Log-strengths per replicate, shape (rounds, models).
        eta: Tie parameter per replicate (``None`` without one).
        chord_converged: Replicates that converged in the batched iteration.
        refitted: Replicates refitted one by one.
        regularised: Refitted replicates that needed the L2 penalty to stay finite.
    """

    theta: FloatArray
    eta: FloatArray | None
    chord_converged: int
    refitted: int
    regularised: int


def _chord(
    counts: PairCounts,
    fit: BTFit,
    stats: FloatArray,
    h_inv: FloatArray,
    *,
    tol: float,
    max_iter: int,
) -> tuple[FloatArray, FloatArray | None, NDArray[np.bool_]]:
    """Newton steps with a fixed Hessian, for every replicate at once.

    The iteration converges linearly with some rate r < 1, so after a step of size s the
    remaining error is about s·r/(1-r); r is estimated from successive steps, and a replicate
    stops once that estimate is below ``tol``.
    """
    size = stats.shape[0]
    n = counts.n_models
    with_eta = fit.eta is not None
    theta = np.tile(fit.theta, (size, 1))
    eta = np.full(size, fit.eta if with_eta else 0.0)
    done = np.zeros(size, dtype=bool)
    active = np.arange(size)
    th, et = theta, eta
    half = fit.ties == "half"
    if half:
        # Plain BT needs only each pair's score y = w + t/2 and total N.
        score = stats[..., 0] + 0.5 * stats[..., 2]
        total = stats[..., 0] + stats[..., 1]
        total += stats[..., 2]
        p_hat = logistic(fit.theta[counts.i] - fit.theta[counts.j])
    else:
        st = stats
    previous = np.full(size, np.nan)  # no rate estimate before the second step
    for iteration in range(max_iter):
        if half:
            if iteration == 0:  # every replicate starts at the full-data fit
                g_d = score - total * p_hat
            else:
                g_d = th[:, counts.i] - th[:, counts.j]
                g_d = logistic(g_d)
                np.multiply(total, g_d, out=g_d)
                np.subtract(score, g_d, out=g_d)
        else:
            d = th[:, counts.i] - th[:, counts.j]
            terms = pair_terms(fit.ties, d, eta=et, stats=st, value=False, hessian=False)
            g_d = terms.g_d
        grad = scatter(counts, g_d)
        if fit.reg:
            grad -= fit.reg * th
        if with_eta:
            assert terms.g_eta is not None
            grad = np.hstack([grad, terms.g_eta.sum(axis=1, keepdims=True)])
        # einsum runs in this thread; a BLAS call here would start BLAS threads on top of
        # the bootstrap's own and oversubscribe the cores.
        step = np.einsum("bi,ij->bj", grad, h_inv)
        step_size = np.max(np.abs(step), axis=1)
        th = th + step[:, :n]
        if with_eta:
            et = et + step[:, n]
        rate = np.divide(
            step_size, previous, out=np.full(step_size.shape, np.nan), where=previous > 0
        )
        rate = np.minimum(rate, 0.99)
        previous = step_size
        small = (step_size * rate / (1.0 - rate) < tol) | (step_size < 1e-3 * tol)
        # A step that is not finite or large means the fixed Hessian does not suit this
        # replicate; stop iterating it and leave it to the full optimiser.
        bad = ~np.isfinite(step_size) | (step_size > 5.0)
        finished = small | bad
        theta[active] = th
        eta[active] = et
        done[active[small & ~bad]] = True
        if finished.any():
            keep = ~finished
            active, th, et, previous = active[keep], th[keep], et[keep], previous[keep]
            if half:
                score, total = score[keep], total[keep]
            else:
                st = st[keep]
        if active.size == 0:
            break
    return theta, (eta if with_eta else None), done


def finite_fit(fit: BTFit) -> bool:
    """A converged fit with ratings within ±15 nats (±2600 Elo) of the mean."""
    return fit.converged and bool(np.max(np.abs(fit.theta)) < 15.0)


def bootstrap_bt(
    counts: PairCounts,
    fit: BTFit,
    *,
    rounds: int,
    seed: int,
    resample: str = "poisson",
    n_jobs: int | None = None,
    tol: float = 1e-6,
    max_iter: int = 60,
) -> BTBootstrap:
    """Refit Bradley-Terry on ``rounds`` reweighted count tables.

    Args:
        counts: The aggregated data.
        fit: The full-data fit (start point and Hessian of the chord iteration).
        rounds: Number of replicates.
        seed: Seed of the replicate draws.
        resample: ``"poisson"`` or ``"multinomial"``.
        n_jobs: Threads (default: CPU count).
        tol: Bound on the estimated remaining error (log-strength units; 1e-6 is 2e-4 Elo).
        max_iter: Chord iterations before a replicate goes to the full optimiser.

    Returns:
        The replicate estimates, mean-zero per replicate.
    """
    check_resample(resample)
    h_inv = np.linalg.inv(fit.gauged_hessian())
    table = PoissonTable(counts.unit_count) if resample == "poisson" else None

    def work(size: int, rng: np.random.Generator) -> _Chunk:
        unit_counts = draw_counts(
            counts.unit_count, size=size, rng=rng, resample=resample, table=table
        )
        stats = counts.resampled_stats(unit_counts)
        del unit_counts
        theta, eta, done = _chord(counts, fit, stats, h_inv, tol=tol, max_iter=max_iter)
        regularised = 0
        for b in np.flatnonzero(~done):
            replicate = replace(counts, stats=stats[b])
            if replicate.total <= 0:  # nothing drawn: only the prior is left
                theta[b] = 0.0
                regularised += 1
                continue
            reg = fit.reg
            if reg == 0 and not identifiability(replicate).strongly_connected:
                reg = DEFAULT_REG
                regularised += 1
            refit = fit_bt(replicate, ties=fit.ties, reg=reg, theta0=fit.theta, eta0=fit.eta)
            if reg < DEFAULT_REG and not finite_fit(refit):
                # Tie models can lack an MLE even on a connected graph (a win and a tie can be
                # explained by ever larger d and κ together); the prior keeps them finite.
                refit = fit_bt(
                    replicate, ties=fit.ties, reg=DEFAULT_REG, theta0=fit.theta, eta0=fit.eta
                )
                regularised += 1
            theta[b] = refit.theta
            if eta is not None:
                eta[b] = refit.eta if refit.eta is not None else -np.inf
        theta -= theta.mean(axis=1, keepdims=True)
        n_done = int(done.sum())
        return theta, eta, n_done, size - n_done, regularised

    parts = run_chunks(work, rounds=rounds, seed=seed, n_jobs=n_jobs)
    return BTBootstrap(
        theta=np.vstack([p[0] for p in parts]),
        eta=None if fit.eta is None else np.concatenate([p[1] for p in parts]),  # type: ignore[misc]
        chord_converged=sum(p[2] for p in parts),
        refitted=sum(p[3] for p in parts),
        regularised=sum(p[4] for p in parts),
    )
