"""The Elo scale and anchoring, shared by every ranker.

Strengths ``π = exp(θ)`` map to ratings ``400 · log10(π) + offset``, so that a 400-point gap
means 10:1 odds, as in Elo (1978) and Chatbot Arena. The offset comes from the anchor: by
default the mean rating is 1000; ``anchor="m"`` puts model ``m`` at 1000 and
``anchor=("m", 1200.0)`` at 1200. A rating scale has no origin, so the anchor is a choice of
presentation, and every bootstrap replicate is anchored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError

ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_CENTER = 1000.0
#: Elo points per natural-log unit of strength: 400 / ln 10 ≈ 173.7.
ELO_PER_NAT = ELO_SCALE / float(np.log(ELO_BASE))

Anchor = str | tuple[str, float] | None


def resolve_anchor(anchor: Anchor, models: Sequence[str]) -> tuple[int | None, float]:
    """Return (index of the anchored model or None for the mean, its rating)."""
    if anchor is None:
        return None, ELO_CENTER
    if isinstance(anchor, str):
        name, value = anchor, ELO_CENTER
    else:
        try:
            name, value = anchor
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"anchor must be a model name or (name, rating), got {anchor!r}"
            ) from None
    if name not in models:
        raise ConfigError(f"anchor model {name!r} is not among the rated models")
    return list(models).index(name), value


def to_elo(
    theta: NDArray[np.float64], *, models: Sequence[str], anchor: Anchor = None
) -> NDArray[np.float64]:
    """Map natural-log strengths (last axis = models) to anchored Elo-scale ratings."""
    theta = np.asarray(theta, dtype=np.float64)
    index, value = resolve_anchor(anchor, models)
    ref = theta.mean(axis=-1, keepdims=True) if index is None else theta[..., index : index + 1]
    return ELO_PER_NAT * (theta - ref) + value


def rescale_elo(
    ratings: NDArray[np.float64], *, models: Sequence[str], anchor: Anchor = None
) -> NDArray[np.float64]:
    """Re-anchor ratings that are already on the Elo scale (e.g. from online Elo)."""
    return to_elo(np.asarray(ratings) / ELO_PER_NAT, models=models, anchor=anchor)
