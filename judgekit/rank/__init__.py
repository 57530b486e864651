"""Ranking engine: pure functions from comparisons to Elo-scale :class:`~judgekit.types.Ratings`.

Every ranker has the shape ``(data, *, options) -> Ratings``, in the style of choix:

- :func:`bradley_terry`: maximum likelihood on counts aggregated per pair and outcome, with
  ``"half"``, ``"davidson"`` or ``"rao-kupper"`` ties, soft outcomes, weights, anchoring,
  regularisation when the data do not identify every rating, and vectorised bootstrap or
  sandwich CIs.
- :func:`elo`: online Elo with an order bootstrap (median over random orders).
- :func:`plackett_luce`: K-wise rankings through choix; :func:`openskill_ratings`: Bayesian
  online K-wise ratings (Gaussian skill, posterior mean and σ) through openskill.
- :func:`style_controlled_bt`: contextual Bradley-Terry with length and markdown features.

:func:`ratings_frame` turns any :class:`~judgekit.types.Ratings` into a leaderboard
DataFrame with CI-aware ranks.
"""

from judgekit.rank.bradley_terry import bradley_terry, sandwich_covariance
from judgekit.rank.data import WINNER_LABELS, PairwiseData, RankingData
from judgekit.rank.elo import elo
from judgekit.rank.leaderboard import ci_aware_rank, ratings_frame
from judgekit.rank.plackett_luce import openskill_ratings, plackett_luce
from judgekit.rank.scale import to_elo
from judgekit.rank.style import style_controlled_bt
from judgekit.rank.style_features import markdown_style, style_features_from_frame
from judgekit.rank.synthetic import simulate_pairwise
from judgekit.rank.ties import TIE_MODELS

__all__ = [
    "PairwiseData",
    "RankingData",
    "TIE_MODELS",
    "WINNER_LABELS",
    "bradley_terry",
    "ci_aware_rank",
    "elo",
    "markdown_style",
    "openskill_ratings",
    "plackett_luce",
    "ratings_frame",
    "sandwich_covariance",
    "simulate_pairwise",
    "style_controlled_bt",
    "style_features_from_frame",
    "to_elo",
]
