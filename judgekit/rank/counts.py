"""Comparisons aggregated per pair of models: what Bradley-Terry and its bootstrap work on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Comparisons aggregated per unordered pair of models, and per resampling unit.

    Pairs are canonical (``i < j``). ``stats[p]`` holds the weighted wins of ``i``, the weighted
    wins of ``j`` and the weighted ties of pair ``p``. A *unit* is a group of identical rows
    (same pair, outcome and weight); the bootstrap redraws the number of rows per unit, which is
    exactly a per-row Poisson or multinomial bootstrap, at a cost set by the number of units.
    """

    n_models: int
    i: IntArray
    j: IntArray
    stats: FloatArray
    unit_pair: IntArray
    unit_count: FloatArray
    unit_stats: FloatArray
    rows_per_model: IntArray

    @property
    def n_pairs(self) -> int:
        return int(self.i.shape[0])

    @property
    def total(self) -> float:
        """Total weight of all comparisons."""
        return float(self.stats.sum())

    # Redrawn stats use a stat-major layout, (B, 3, pairs), so that each stat of all pairs is
    # one contiguous block; ``resampled_stats`` returns it as a (B, pairs, 3) view.

    @cached_property
    def unit_matrix(self) -> sparse.csr_matrix:
        """Sparse (units x 3*pairs) map from unit counts to stat-major pair stats."""
        n_units = self.unit_pair.shape[0]
        rows = np.repeat(np.arange(n_units), 3)
        cols = (np.arange(3)[None, :] * self.n_pairs + self.unit_pair[:, None]).ravel()
        vals = self.unit_stats.ravel()
        keep = vals != 0
        return sparse.csr_matrix(
            (vals[keep], (rows[keep], cols[keep])), shape=(n_units, 3 * self.n_pairs)
        )

    @cached_property
    def _unit_columns(self) -> tuple[IntArray, FloatArray, bool] | None:
        """(column, value, is-identity) when every unit feeds exactly one stat of its own."""
        nonzero = self.unit_stats != 0
        if not np.all(nonzero.sum(axis=1) == 1):
            return None
        stat = np.argmax(nonzero, axis=1)
        cols = stat * self.n_pairs + self.unit_pair
        if np.unique(cols).shape[0] != cols.shape[0]:
            return None
        identity = bool(np.array_equal(cols, np.arange(3 * self.n_pairs)))
        return cols, self.unit_stats[np.arange(cols.shape[0]), stat], identity

    def resampled_stats(self, unit_counts: FloatArray) -> FloatArray:
        """Pair stats, shape (B, pairs, 3), for B redrawn unit counts of shape (B, units)."""
        size = unit_counts.shape[0]
        direct = self._unit_columns
        if direct is None:
            flat = np.asarray(self.unit_matrix.T @ unit_counts.T).T
        else:
            cols, values, identity = direct
            scaled = unit_counts if np.all(values == 1) else unit_counts * values
            if identity:
                flat = scaled
            else:
                flat = np.zeros((size, 3 * self.n_pairs))
                flat[:, cols] = scaled
        return np.ascontiguousarray(flat).reshape(size, 3, self.n_pairs).transpose(0, 2, 1)

    @cached_property
    def incidence(self) -> sparse.csr_matrix:
        """Sparse (pairs x models) matrix with +1 at ``i`` and -1 at ``j``: d = incidence @ θ."""
        p = np.arange(self.n_pairs)
        return sparse.csr_matrix(
            (
                np.concatenate([np.ones(self.n_pairs), -np.ones(self.n_pairs)]),
                (np.concatenate([p, p]), np.concatenate([self.i, self.j])),
            ),
            shape=(self.n_pairs, self.n_models),
        )
