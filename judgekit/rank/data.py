"""Plain data for the rankers: pairwise comparisons, K-wise rankings and their aggregates.

Every ranker in :mod:`judgekit.rank` takes one of two shapes, in the style of choix:

- :class:`PairwiseData`: one row per comparison of ``models[a[k]]`` with ``models[b[k]]``,
  with an outcome that may be soft (``win_a``, ``win_b``, ``tie`` are weights, e.g. a judge's
  probabilities) and a per-comparison ``weight``.
- :class:`RankingData`: K-wise rankings, best first, for Plackett-Luce and openskill.

Bradley-Terry never looks at the rows again once :meth:`PairwiseData.aggregate` has reduced
them to :class:`PairCounts`, so its cost depends on the number of models, not of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from judgekit.errors import ConfigError, InputError
from judgekit.rank.counts import PairCounts

if TYPE_CHECKING:
    from judgekit.types import Outcome

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The Chatbot Arena ``winner`` labels and the (win_a, win_b, tie) outcome each one means.
WINNER_LABELS: dict[str, tuple[float, float, float]] = {
    "model_a": (1.0, 0.0, 0.0),
    "model_b": (0.0, 1.0, 0.0),
    "tie": (0.0, 0.0, 1.0),
    "tie (bothbad)": (0.0, 0.0, 1.0),
}

# Above this many possible pairs, a dense lookup table for pair ids would cost too much memory.
_DENSE_PAIR_LIMIT = 1 << 24


def _bad_rows(
    mask: NDArray[np.bool_],
    message: str,
    *,
    path: str | None,
    lines: Sequence[int] | NDArray[np.int64] | None,
    describe: Callable[[int], str] | None = None,
) -> None:
    """Raise an InputError naming the first offending row (its file line when known)."""
    if not mask.any():
        return
    bad = np.flatnonzero(mask)
    first = int(bad[0])
    detail = message if describe is None else f"{message}: {describe(first)}"
    if bad.size > 1:
        detail += f" (and {bad.size - 1} more rows)"
    if lines is not None:
        raise InputError(detail, path=path, line=int(lines[first]))
    raise InputError(f"row {first}: {detail}", path=path)


def _factorize(values: NDArray[Any]) -> tuple[IntArray, int]:
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64), len(uniques)


@dataclass(frozen=True, eq=False)
class PairwiseData:
    """Pairwise comparisons: row ``k`` compares ``models[a[k]]`` with ``models[b[k]]``.

    ``win_a``, ``win_b`` and ``tie`` may be fractional (a judge's probabilities); a hard
    outcome is one-hot. Row ``k`` adds ``weight[k] * (win_a, win_b, tie)`` to the counts.
    ``features`` (rows x k) holds optional per-comparison covariates for style control, as
    "feature of a minus feature of b" contrasts, named by ``feature_names``.
    """

    models: tuple[str, ...]
    a: IntArray
    b: IntArray
    win_a: FloatArray
    win_b: FloatArray
    tie: FloatArray
    weight: FloatArray
    features: FloatArray | None = None
    feature_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_models(self) -> int:
        return len(self.models)

    @classmethod
    def from_arrays(
        cls,
        *,
        models: Sequence[str],
        a: Sequence[int] | NDArray[Any],
        b: Sequence[int] | NDArray[Any],
        win_a: Sequence[float] | NDArray[Any],
        win_b: Sequence[float] | NDArray[Any],
        tie: Sequence[float] | NDArray[Any],
        weight: Sequence[float] | NDArray[Any] | None = None,
        features: NDArray[Any] | None = None,
        feature_names: Sequence[str] = (),
        path: str | None = None,
        lines: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> PairwiseData:
        """Validate and wrap arrays of comparisons.

        Args:
            models: Model names; ``a`` and ``b`` index into it.
            a: Index of the first model of each comparison.
            b: Index of the second model.
            win_a: Outcome weight of "a won" (1.0 for a hard win).
            win_b: Outcome weight of "b won".
            tie: Outcome weight of a tie.
            weight: Per-comparison weight (default 1), e.g. 3 for arena-hard's "A>>B".
            features: Optional (rows x k) style contrasts for :func:`style_controlled_bt`.
            feature_names: Names of the ``features`` columns.
            path: Source file, used in error messages.
            lines: Source line of each row, used in error messages.

        Raises:
            InputError: self-battles, unknown model indices, negative or non-finite outcomes
                or weights, rows whose outcome sums to zero, or no rows at all.
        """
        names = tuple(str(m) for m in models)
        if len(set(names)) != len(names):
            raise ConfigError("model names must be unique")
        arrays = {
            "a": np.asarray(a, dtype=np.int64).ravel(),
            "b": np.asarray(b, dtype=np.int64).ravel(),
            "win_a": np.asarray(win_a, dtype=np.float64).ravel(),
            "win_b": np.asarray(win_b, dtype=np.float64).ravel(),
            "tie": np.asarray(tie, dtype=np.float64).ravel(),
        }
        n_rows = arrays["a"].shape[0]
        w = np.ones(n_rows) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
        arrays["weight"] = w
        for name, arr in arrays.items():
            if arr.shape[0] != n_rows:
                raise ConfigError(f"'{name}' has {arr.shape[0]} entries, 'a' has {n_rows}")
        if n_rows == 0:
            raise InputError("no comparisons", path=path)
        ia, ib = arrays["a"], arrays["b"]
        n = len(names)
        _bad_rows(
            (ia < 0) | (ia >= n) | (ib < 0) | (ib >= n),
            "model index out of range",
            path=path,
            lines=lines,
        )
        _bad_rows(
            ia == ib,
            "a model cannot battle itself",
            path=path,
            lines=lines,
            describe=lambda k: repr(names[ia[k]]),
        )
        for name in ("win_a", "win_b", "tie", "weight"):
            arr = arrays[name]
            if not (np.isfinite(arr).all() and arr.min() >= 0):
                _bad_rows(
                    ~np.isfinite(arr) | (arr < 0),
                    f"'{name}' must be a finite number >= 0",
                    path=path,
                    lines=lines,
                    describe=lambda k, arr=arr: repr(float(arr[k])),
                )
        total = arrays["win_a"] + arrays["win_b"] + arrays["tie"]
        _bad_rows(total <= 0, "win_a + win_b + tie must be positive", path=path, lines=lines)
        feats = None
        if features is not None:
            feats = np.asarray(features, dtype=np.float64)
            if feats.ndim != 2 or feats.shape[0] != n_rows:
                raise ConfigError(f"'features' must have shape ({n_rows}, k), got {feats.shape}")
            if len(feature_names) != feats.shape[1]:
                raise ConfigError("'feature_names' must name every column of 'features'")
            _bad_rows(
                ~np.isfinite(feats).all(axis=1),
                "style features must be finite",
                path=path,
                lines=lines,
            )
        return cls(
            models=names,
            a=ia,
            b=ib,
            win_a=arrays["win_a"],
            win_b=arrays["win_b"],
            tie=arrays["tie"],
            weight=w,
            features=feats,
            feature_names=tuple(feature_names),
        )

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        models: Sequence[str] | None = None,
        style: bool = False,
        path: str | None = None,
        lines: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> PairwiseData:
        """Build from a Chatbot Arena battle table.

        Columns: ``model_a``, ``model_b`` and either ``winner`` (one of
        :data:`WINNER_LABELS`) or numeric ``win_a``/``win_b``/``tie``; optional ``weight``.
        With ``style=True``, style contrasts are computed by
        :func:`judgekit.rank.style_features.style_features_from_frame`.

        Args:
            frame: The battles.
            models: Model order (default: sorted names).
            style: Also compute style-control features.
            path: Source file, for error messages.
            lines: Source line of each row, for error messages.

        Raises:
            InputError: missing columns, blank model names, unknown winner labels, bad weights.
        """
        missing = [c for c in ("model_a", "model_b") if c not in frame.columns]
        if missing:
            found = ", ".join(sorted(str(c) for c in frame.columns)) or "none"
            raise InputError(f"missing column(s): {', '.join(missing)}; found: {found}", path=path)
        soft = {"win_a", "win_b", "tie"}
        if "winner" not in frame.columns and not soft <= set(frame.columns):
            raise InputError(
                "need a 'winner' column (model_a, model_b, tie, tie (bothbad)) "
                "or numeric 'win_a', 'win_b' and 'tie' columns",
                path=path,
            )
        if len(frame) == 0:
            raise InputError("no battles in the file", path=path)
        # Factorise once and validate the distinct values only: 3 million rows name a few
        # hundred models, and per-row string work would dominate the whole fit.
        codes_a, names_a = _codes_and_names(frame["model_a"])
        codes_b, names_b = _codes_and_names(frame["model_b"])
        for col, part, names in (("model_a", codes_a, names_a), ("model_b", codes_b, names_b)):
            blank_codes = [k for k, name in enumerate(names) if not name.strip()]
            _bad_rows(
                (part < 0) | np.isin(part, blank_codes),
                f"'{col}' is empty",
                path=path,
                lines=lines,
            )
        if models is None:
            models = sorted({*names_a, *names_b})
        index = {m: k for k, m in enumerate(models)}
        a = np.array([index.get(n, -1) for n in names_a], dtype=np.int64)[codes_a]
        b = np.array([index.get(n, -1) for n in names_b], dtype=np.int64)[codes_b]
        _bad_rows(
            (a < 0) | (b < 0),
            "model not in the given model list",
            path=path,
            lines=lines,
            describe=lambda k: repr((names_a[codes_a[k]], names_b[codes_b[k]])),
        )

        if "winner" in frame.columns:
            label_codes, labels = _codes_and_names(frame["winner"])
            known = {k: i for i, k in enumerate(WINNER_LABELS)}
            label_index = np.array(
                [known.get(str(label).strip(), -1) for label in labels] + [-1], dtype=np.int64
            )
            outcome_code = label_index[label_codes]  # a missing label (-1) stays -1
            _bad_rows(
                outcome_code < 0,
                f"unknown winner label (expected one of {', '.join(WINNER_LABELS)})",
                path=path,
                lines=lines,
                describe=lambda k: repr(labels[label_codes[k]] if label_codes[k] >= 0 else ""),
            )
            table = np.array(list(WINNER_LABELS.values()))
            outcome = table[outcome_code]
            win_a, win_b, tie = outcome[:, 0], outcome[:, 1], outcome[:, 2]
        else:
            cols = []
            for col in ("win_a", "win_b", "tie"):
                values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                _bad_rows(np.isnan(values), f"'{col}' is not a number", path=path, lines=lines)
                cols.append(values)
            win_a, win_b, tie = cols
        weight = None
        if "weight" in frame.columns:
            # A missing weight (blank cell, absent JSON key) means 1; a non-number is an error.
            absent = frame["weight"].isna().to_numpy()
            weight = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(
                dtype=float, copy=True
            )
            _bad_rows(
                np.isnan(weight) & ~absent,
                "'weight' is not a number",
                path=path,
                lines=lines,
                describe=lambda k: repr(frame["weight"].iloc[k]),
            )
            weight[absent] = 1.0
        features, feature_names = None, ()
        if style:
            from judgekit.rank.style_features import style_features_from_frame

            features, feature_names = style_features_from_frame(frame, path=path)
        return cls.from_arrays(
            models=models,
            a=a,
            b=b,
            win_a=win_a,
            win_b=win_b,
            tie=tie,
            weight=weight,
            features=features,
            feature_names=feature_names,
            path=path,
            lines=lines,
        )

    @classmethod
    def from_outcomes(
        cls, outcomes: Sequence[Outcome], *, models: Sequence[str] | None = None
    ) -> PairwiseData:
        """Build from :class:`judgekit.types.Outcome` objects, skipping those not ``ok``."""
        ok = [o for o in outcomes if o.status == "ok"]
        if models is None:
            models = sorted({o.model_a for o in ok} | {o.model_b for o in ok})
        index = {m: k for k, m in enumerate(models)}
        return cls.from_arrays(
            models=models,
            a=[index[o.model_a] for o in ok],
            b=[index[o.model_b] for o in ok],
            win_a=[o.win_a for o in ok],
            win_b=[o.win_b for o in ok],
            tie=[o.tie for o in ok],
        )

    @classmethod
    def from_counts(
        cls, *, models: Sequence[str], counts: Sequence[tuple[int, int, int, int, int]]
    ) -> PairwiseData:
        """Hard comparisons from a count table of ``(a, b, a_wins, b_wins, ties)`` rows.

        ``(0, 1, 7, 2, 1)`` means models[0] beat models[1] 7 times, lost 2 and tied once.
        """
        cols: dict[str, list[float]] = {"a": [], "b": [], "win_a": [], "win_b": [], "tie": []}
        for a, b, *outcomes in counts:
            for k, count in enumerate(outcomes):
                if count < 0 or count != int(count):
                    raise InputError(f"counts must be whole numbers >= 0, got {count!r}")
                for _ in range(int(count)):
                    cols["a"].append(a)
                    cols["b"].append(b)
                    cols["win_a"].append(float(k == 0))
                    cols["win_b"].append(float(k == 1))
                    cols["tie"].append(float(k == 2))
        return cls.from_arrays(models=models, **cols)

    def with_unit_weights(self) -> PairwiseData:
        """Repeat each row ``weight`` times, for rankers that take no weights.

        Whole-number weights are counts (arena-hard duplicates an "A>>B" battle the same
        way); other weights cannot be expressed without them.

        Raises:
            ConfigError: a weight that is not a whole number.
        """
        w = self.weight
        if np.all(w == 1):
            return self
        if not np.all(w == np.round(w)):
            raise ConfigError("this ranker takes no fractional weights; use method 'bt'")
        repeats = w.astype(np.int64)
        keep = np.repeat(np.arange(len(self)), repeats)
        return PairwiseData(
            models=self.models,
            a=self.a[keep],
            b=self.b[keep],
            win_a=self.win_a[keep],
            win_b=self.win_b[keep],
            tie=self.tie[keep],
            weight=np.ones(keep.shape[0]),
            features=None if self.features is None else self.features[keep],
            feature_names=self.feature_names,
        )

    @property
    def is_hard(self) -> bool:
        """True when every outcome is one-hot (a win, a loss or a tie)."""
        wa, wb = self.win_a, self.win_b
        # Outcomes are validated >= 0, so a unit total with 0/1 wins leaves a 0/1 tie.
        return bool(
            np.all(wa + wb + self.tie == 1)
            and np.all((wa == 0) | (wa == 1))
            and np.all((wb == 0) | (wb == 1))
        )

    def aggregate(self, *, count: NDArray[Any] | None = None) -> PairCounts:
        """Reduce the rows to per-pair counts and resampling units in O(rows) passes.

        Args:
            count: How many identical comparisons each row stands for (default one each),
                as :class:`~judgekit.rank.grouped.GroupedPairwiseData` keeps them. Rows
                repeated ``count`` times give the same counts and units.
        """
        n = self.n_models
        a, b, w = self.a, self.b, self.weight
        mult = None if count is None else np.asarray(count, dtype=np.float64)
        swap = a > b
        code = np.minimum(a, b) * n + np.maximum(a, b)
        if n * n <= _DENSE_PAIR_LIMIT:
            present = np.flatnonzero(np.bincount(code, minlength=n * n))
            lut = np.full(n * n, -1, dtype=np.int64)
            lut[present] = np.arange(present.shape[0])
            pair = lut[code]
            uniq = present
        else:
            uniq, pair = np.unique(code, return_inverse=True)
        n_pairs = uniq.shape[0]
        rows_per_model = (
            np.bincount(a, mult, minlength=n) + np.bincount(b, mult, minlength=n)
        ).astype(np.int64)

        if self.is_hard:
            # Outcome seen from the canonical pair (i < j): 0 = i won, 1 = j won, 2 = tie.
            outcome = np.where(self.tie == 1, 2, ((self.win_a != 1) ^ swap).astype(np.int64))
            # Stat-major cells (outcome, pair), the layout the bootstrap redraws into.
            key = outcome * n_pairs + pair
            constant_weight = bool(np.all(w == w[0]))
            if constant_weight:
                cells = np.bincount(key, mult, minlength=3 * n_pairs)
                used = np.flatnonzero(cells)
                unit_stats = np.zeros((used.shape[0], 3))
                unit_stats[np.arange(used.shape[0]), used // n_pairs] = w[0]
                stats = (cells * w[0]).reshape(3, n_pairs).T.astype(np.float64)
                return PairCounts(
                    n_models=n,
                    i=uniq // n,
                    j=uniq % n,
                    stats=stats,
                    unit_pair=used % n_pairs,
                    unit_count=cells[used].astype(np.float64),
                    unit_stats=unit_stats,
                    rows_per_model=rows_per_model,
                )
            mass = w if mult is None else w * mult
            stats = np.bincount(key, weights=mass, minlength=3 * n_pairs).reshape(3, n_pairs).T
            wcode, n_w = _factorize(w)
            unit_key, n_keys = _factorize(key * n_w + wcode)
            vi = np.where(outcome == 0, w, 0.0)
            vj = np.where(outcome == 1, w, 0.0)
            vt = np.where(outcome == 2, w, 0.0)
        else:
            # Soft outcomes: units are rows with identical (pair, oriented values).
            vi = np.where(swap, self.win_b, self.win_a) * w
            vj = np.where(swap, self.win_a, self.win_b) * w
            vt = self.tie * w
            stats = np.stack(
                [
                    np.bincount(pair, weights=v if mult is None else v * mult, minlength=n_pairs)
                    for v in (vi, vj, vt)
                ],
                axis=1,
            )
            unit_key = pair
            for col in (vi, vj, vt):
                ccode, n_c = _factorize(col)
                unit_key, n_keys = _factorize(unit_key * n_c + ccode)
        unit_count = np.bincount(unit_key, mult, minlength=n_keys)
        first = np.empty(n_keys, dtype=np.int64)
        first[unit_key[::-1]] = np.arange(unit_key.shape[0] - 1, -1, -1)
        return PairCounts(
            n_models=n,
            i=uniq // n,
            j=uniq % n,
            stats=stats,
            unit_pair=pair[first],
            unit_count=unit_count.astype(np.float64),
            unit_stats=np.stack([vi[first], vj[first], vt[first]], axis=1),
            rows_per_model=rows_per_model,
        )


@dataclass(frozen=True, eq=False)
class RankingData:
    """K-wise rankings: each ranking lists model indices from best to worst."""

    models: tuple[str, ...]
    rankings: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.rankings)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @classmethod
    def from_lists(
        cls, rankings: Sequence[Sequence[str]], *, models: Sequence[str] | None = None
    ) -> RankingData:
        """Build from rankings given as model names, best first.

        Raises:
            InputError: an empty input, a ranking with fewer than two models, a model twice
                in one ranking, or a model missing from ``models``.
        """
        if not rankings:
            raise InputError("no rankings")
        if models is None:
            models = sorted({m for r in rankings for m in r})
        index = {m: k for k, m in enumerate(models)}
        out = []
        for row, ranking in enumerate(rankings):
            if len(ranking) < 2:
                raise InputError(f"ranking {row} has fewer than two models")
            if len(set(ranking)) != len(ranking):
                raise InputError(f"ranking {row} names a model twice")
            try:
                out.append(tuple(index[m] for m in ranking))
            except KeyError as exc:
                raise InputError(f"ranking {row}: unknown model {exc.args[0]!r}") from None
        return cls(models=tuple(models), rankings=tuple(out))

    @classmethod
    def from_pairwise(cls, data: PairwiseData) -> tuple[RankingData, int]:
        """Turn hard, decisive comparisons into 2-rankings (a weight of 3 is three of them).

        Returns the rankings and the number of ties dropped (a strict ranking cannot hold one,
        which is also why choix drops ties).

        Raises:
            ConfigError: soft outcomes or fractional weights, which rankings cannot carry.
        """
        if not data.is_hard:
            raise ConfigError("rankings need hard outcomes; soft (probabilistic) outcomes found")
        data = data.with_unit_weights()
        decisive = data.tie == 0
        winner = np.where(data.win_a == 1, data.a, data.b)[decisive]
        loser = np.where(data.win_a == 1, data.b, data.a)[decisive]
        rankings = tuple(zip(winner.tolist(), loser.tolist(), strict=True))
        return cls(models=data.models, rankings=rankings), int((~decisive).sum())


def _codes_and_names(column: pd.Series) -> tuple[NDArray[np.int64], list[str]]:
    """Integer codes (-1 where missing) and the distinct values, as strings.

    Factorising once and validating the distinct values only keeps 3 million rows that name
    a few hundred models cheap; a categorical column (a dictionary-encoded Parquet column)
    already is codes and values, so it costs nothing at all.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64, copy=False)
        return codes, [str(c) for c in column.cat.categories]
    codes, uniques = pd.factorize(column, sort=False)
    return codes.astype(np.int64, copy=False), [str(u) for u in uniques]
