"""Comparisons stored once per distinct row, with how often each occurs.

Three million Chatbot Arena battles among 200 models hold about 120,000 distinct
``(model_a, model_b, winner)`` rows. Rankers that ignore the order of the battles (Bradley-
Terry and its bootstrap, win rates) need only those rows and their counts, so a battle file
can be grouped where it is read (by DuckDB, in :mod:`judgekit.inputs.battles`) and never
materialised row by row. Order-dependent rankers (Elo) and per-row features (style control)
need :class:`~judgekit.rank.data.PairwiseData` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from judgekit.errors import ConfigError
from judgekit.rank.counts import PairCounts
from judgekit.rank.data import PairwiseData


@dataclass(frozen=True, eq=False)
class GroupedPairwiseData:
    """``rows[k]`` occurs ``count[k]`` times; equal, for Bradley-Terry, to the rows repeated.

    Attributes:
        rows: The distinct comparisons (no features: style control needs every row).
        count: How many comparisons each row stands for, a whole number >= 1.
    """

    rows: PairwiseData
    count: NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.rows.features is not None:
            raise ConfigError("grouped comparisons cannot carry per-row style features")
        if self.count.shape != (len(self.rows),):
            raise ConfigError(f"'count' needs {len(self.rows)} entries, got {self.count.shape}")
        if len(self.count) and int(self.count.min()) < 1:
            raise ConfigError("every grouped row must occur at least once")

    @classmethod
    def from_rows(cls, rows: PairwiseData, count: Any) -> GroupedPairwiseData:
        return cls(rows=rows, count=np.asarray(count, dtype=np.int64).ravel())

    def __len__(self) -> int:
        """The number of comparisons, not of distinct rows."""
        return int(self.count.sum())

    @property
    def models(self) -> tuple[str, ...]:
        return self.rows.models

    def aggregate(self) -> PairCounts:
        return self.rows.aggregate(count=self.count)
