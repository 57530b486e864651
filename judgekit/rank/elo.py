"""Online Elo ratings with an order bootstrap.

Elo (1978) updates two ratings after each game: ``r_a += K·w·(s_a - e_a)`` with the expected
score ``e_a = 1 / (1 + 10^((r_b - r_a)/400))`` and ``s_a = win_a + tie/2``. The result depends
on the order of the games, which for fixed-skill LLMs is an artefact: Boubdir et al. (2023),
"Elo Uncovered: Robustness and Best Practices in Language Model Evaluation", show that single
Elo runs are volatile and recommend reporting statistics over many random orders. So
:func:`elo` replays the comparisons in ``shuffles`` random orders (vectorised across orders)
and reports the median rating with percentile intervals; the single pass in the given order is
kept in ``extras["single_pass"]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.bootstrap import percentile_interval
from judgekit.rank.data import PairwiseData
from judgekit.rank.graph import identifiability
from judgekit.rank.scale import ELO_BASE, ELO_SCALE, Anchor, rescale_elo
from judgekit.types import Ratings

FloatArray = NDArray[np.float64]

# Memory cap for the precomputed orders of one batch of shuffles (elements).
_BATCH_ELEMENTS = 20_000_000


def _single_pass(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    score: FloatArray,
    step: FloatArray,
    *,
    n: int,
    initial: float,
) -> FloatArray:
    """One Elo pass in the given order; plain Python floats are fastest for one order."""
    ratings = [initial] * n
    for ia, ib, s, k in zip(a.tolist(), b.tolist(), score.tolist(), step.tolist(), strict=True):
        expected = 1.0 / (1.0 + ELO_BASE ** ((ratings[ib] - ratings[ia]) / ELO_SCALE))
        delta = k * (s - expected)
        ratings[ia] += delta
        ratings[ib] -= delta
    return np.asarray(ratings)


def _shuffled_passes(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    score: FloatArray,
    step: FloatArray,
    *,
    n: int,
    initial: float,
    orders: NDArray[np.int64],
) -> FloatArray:
    """Elo passes for several orders at once: one vectorised update per game position."""
    count = orders.shape[0]
    ratings = np.full(count * n, initial)  # one row of n ratings per order, flattened
    # Position-major index arrays make each step read contiguous memory. Within one step
    # every order touches its own two cells, so plain fancy-index updates are safe.
    offsets = (np.arange(count) * n)[:, None]
    a_t = np.ascontiguousarray((a[orders] + offsets).T)
    b_t = np.ascontiguousarray((b[orders] + offsets).T)
    s_t = np.ascontiguousarray(score.astype(np.float32)[orders].T)
    k_t = np.ascontiguousarray(step.astype(np.float32)[orders].T)
    per_point = np.log(ELO_BASE) / ELO_SCALE
    for t in range(a_t.shape[0]):
        ia, ib = a_t[t], b_t[t]
        gap = ratings[ib] - ratings[ia]
        delta = k_t[t] * (s_t[t] - 1.0 / (1.0 + np.exp(gap * per_point)))
        ratings[ia] += delta
        ratings[ib] -= delta
    return ratings.reshape(count, n)


def elo(
    data: PairwiseData,
    *,
    k: float = 4.0,
    initial: float = 1000.0,
    shuffles: int = 100,
    level: float = 0.95,
    seed: int = 0,
    anchor: Anchor = None,
) -> Ratings:
    """Online Elo ratings, as a median over random orders of the comparisons.

    Args:
        data: Pairwise comparisons; a soft outcome scores ``win_a + tie/2`` and a weight
            multiplies K.
        k: The K-factor (4, as in FastChat's ``compute_online_elo``; chess uses 10-40).
        initial: Starting rating of every model.
        shuffles: Random orders to replay (0: only the given order, no intervals). Elo is
            sequential, so this costs about 10 µs per comparison for each batch of up to
            ``2e7 / comparisons`` orders: 100 orders of 100k comparisons take about a second,
            of 3M comparisons several minutes.
        level: Level of the percentile intervals over orders.
        seed: Seed of the orders.
        anchor: ``None`` keeps Elo's own scale (its updates are zero-sum, so the mean stays
            at ``initial``); a model name or ``(name, rating)`` shifts the ratings.

    Returns:
        :class:`~judgekit.types.Ratings`: median ratings over the orders, with percentile
        intervals over orders, and ``extras["single_pass"]`` for the given order.

    Raises:
        ConfigError: a non-positive K or a negative number of shuffles.
    """
    if not k > 0:
        raise ConfigError(f"k must be positive, not {k!r}")
    if shuffles < 0:
        raise ConfigError(f"shuffles must be >= 0, not {shuffles!r}")
    n = data.n_models
    totals = data.win_a + data.win_b + data.tie
    score = (data.win_a + 0.5 * data.tie) / totals
    step = k * data.weight
    single = _single_pass(data.a, data.b, score, step, n=n, initial=initial)
    models = data.models

    def anchored(values: FloatArray) -> FloatArray:
        return values if anchor is None else rescale_elo(values, models=models, anchor=anchor)

    ident = identifiability(data.aggregate())
    extras: dict[str, object] = {
        "k": k,
        "initial": initial,
        "shuffles": shuffles,
        "single_pass": tuple(float(x) for x in anchored(single)),
        "not_identifiable": {models[i]: why for i, why in ident.reasons.items()},
    }
    if shuffles == 0:
        return Ratings(
            models=models,
            rating=tuple(float(x) for x in anchored(single)),
            method="elo",
            identifiable=ident.identifiable,
            extras=extras,
        )
    rng = np.random.default_rng(seed)
    size = len(data)
    per_batch = max(1, min(shuffles, _BATCH_ELEMENTS // max(size, 1)))
    results = []
    for start in range(0, shuffles, per_batch):
        count = min(per_batch, shuffles - start)
        orders = np.argsort(rng.random((count, size)), axis=1)
        results.append(
            _shuffled_passes(data.a, data.b, score, step, n=n, initial=initial, orders=orders)
        )
    samples = anchored(np.vstack(results))
    low, high = percentile_interval(samples, level=level)
    extras["ci"] = {"method": "order-bootstrap", "level": level}
    return Ratings(
        models=models,
        rating=tuple(float(x) for x in np.median(samples, axis=0)),
        method="elo",
        ci_low=tuple(float(x) for x in low),
        ci_high=tuple(float(x) for x in high),
        identifiable=ident.identifiable,
        extras=extras,
    )
