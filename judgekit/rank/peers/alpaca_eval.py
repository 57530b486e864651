"""AlpacaEval 2's leaderboard columns, computed as AlpacaEval computes them.

Input: a long frame of annotations, one row per (model, instruction), with ``model``
(AlpacaEval's ``generator_2``), ``baseline`` (``generator_1``), ``instruction``,
``position`` (the row's place in its annotations file, AlpacaEval's ``index``),
``preference`` (1: the baseline wins, 2: the model wins, 1.5 or 0: a draw, in between for
weighted annotators, NaN when the annotator failed), ``len_1`` and ``len_2`` (characters
of the baseline's and the model's output).

Head to head (AlpacaEval's absolute scoring rule): draws written as 0 become 1.5, failed
rows are dropped, and ``y = preference − 1`` is the model's score.  ``win_rate`` is the
mean of ``y`` and ``standard_error`` its standard error (ddof 1), both in percent;
``n_wins`` counts ``y > ½``, ``n_wins_base`` ``y < ½``, ``n_draws`` preferences of
exactly 1.5; ``discrete_win_rate`` rounds each preference to 1 or 2 first (a draw stays
½).

Length control (Dubois et al. 2024, AlpacaEval's ``length_controlled_v1`` GLM), one fit
per model against the baseline, with no intercept::

    logit P(model wins) = w_len · tanh(Δ / sd(Δ)) + w_dif · difficulty(x) + w_0 · 1

``Δ = len_1 − len_2`` and ``sd`` is the sample standard deviation over the model's rows.
The model's rows have weight 1 and the last feature 1; when annotations of the gamed
baselines (the baseline's own verbose and concise variants) are present, their rows join
every fit with weight ``λ/2 = 0.1`` each and the last feature 0, which pulls the length
and difficulty slopes towards the baseline's own.  The preference enters as a fractional
response (each row counts as a win with weight ``y`` and a loss with weight ``1 − y``).
The fit is an L1-penalised logistic regression (``‖w‖₁ + C · Σ weightᵢ · lossᵢ``) whose
``C`` is picked among ``10^linspace(−4, 4, 10)`` by 5-fold cross-validation on the mean
weighted log loss, with folds of whole rows dealt out as scikit-learn's ``GroupKFold``
deals groups of equal size, then refitted on all rows.  The length-controlled win rate is
the mean over the model's rows (failed ones included) of the prediction with ``Δ = 0``,
``σ(w_0 + w_dif · difficulty)``, in percent; ``lc_standard_error`` is the standard error
of those predictions.  The baseline scores 50 with no error.

Instruction difficulty: AlpacaEval ships a per-instruction table, estimated once by a
joint fit over every model of the leaderboard; :func:`instruction_difficulty` repeats that
estimate on the annotations at hand (per-model bias and length slope, one effect per
instruction) at the fit's penalty-free limit, and a table of AlpacaEval's own can be
passed instead (AlpacaEval's own notebook finds a re-estimated table correlated 0.95
with the published one and near-equal leaderboard statistics from either).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from judgekit.errors import ConfigError

FloatArray = NDArray[np.float64]

#: The C grid of scikit-learn's ``LogisticRegressionCV(Cs=10)``, which AlpacaEval uses.
CS: FloatArray = np.logspace(-4, 4, 10)
N_SPLITS = 5
#: AlpacaEval's ``regularize_to_baseline_lambda`` of ``length_controlled_v1``.
GAMED_LAMBDA = 0.2
#: The ``logloss`` clip of AlpacaEval's cross-validation scorer.
_EPS = 1e-15

ANNOTATION_COLUMNS = [
    "model",
    "baseline",
    "instruction",
    "position",
    "preference",
    "len_1",
    "len_2",
]
LEADERBOARD_COLUMNS = [
    "win_rate",
    "standard_error",
    "n_wins",
    "n_wins_base",
    "n_draws",
    "n_total",
    "discrete_win_rate",
    "avg_length",
    "length_controlled_winrate",
    "lc_standard_error",
]


# -- head to head ---------------------------------------------------------------------------


def head_to_head(preference: Sequence[float] | FloatArray) -> dict[str, float]:
    """AlpacaEval's head-to-head columns of one model's preferences (see the module doc)."""
    pref = np.asarray(preference, dtype=float)
    pref = np.where(pref == 0.0, 1.5, pref)
    n_draws = int((pref == 1.5).sum())
    valid = pref[np.isfinite(pref) & (pref >= 1.0) & (pref <= 2.0)]
    y = valid - 1.0
    n = len(y)
    # Rounding sends a weighted preference to the nearer side; an exact draw stays a draw.
    discrete = np.where(valid == 1.5, 0.5, np.round(valid) - 1.0)
    return {
        "win_rate": 100 * float(y.mean()) if n else math.nan,
        "standard_error": 100 * float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "n_wins": int((y > 0.5).sum()),
        "n_wins_base": int((y < 0.5).sum()),
        "n_draws": n_draws,
        "n_total": n,
        "discrete_win_rate": 100 * float(discrete.mean()) if n else math.nan,
    }


# -- the penalised fractional logistic regression -------------------------------------------


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = np.exp(-np.logaddexp(0.0, -x))
    return out


def _objective(eta: FloatArray, y: FloatArray, weight: FloatArray) -> float:
    return float(weight @ (np.logaddexp(0.0, eta) - y * eta))


def _soft(z: FloatArray | float, t: FloatArray | float) -> Any:
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def l1_logistic(
    x: FloatArray,
    y: FloatArray,
    weight: FloatArray,
    *,
    c: float,
    start: FloatArray | None = None,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> FloatArray:
    """argmin_w ``‖w‖₁ + c · Σ weightᵢ · (log(1 + e^ηᵢ) − yᵢ ηᵢ)``, ``η = x·w``, no intercept.

    This is liblinear's L1-regularised logistic regression (the solver AlpacaEval asks of
    scikit-learn) with a fractional response ``y ∈ [0, 1]``: a row counts as a win with
    weight ``weight·y`` and a loss with weight ``weight·(1 − y)``.  Solved to numerical
    precision by proximal Newton steps (coordinate descent on the quadratic model, then an
    Armijo line search, as liblinear's newGLMNET does), for a few dense columns.
    """
    x = np.asarray(x, dtype=float)
    k = x.shape[1]
    lam = 1.0 / c  # the objective divided by c: same minimiser, better-scaled numbers
    w = np.zeros(k) if start is None else np.array(start, dtype=float)
    eta = x @ w
    value = _objective(eta, y, weight) + lam * float(np.abs(w).sum())
    for _ in range(max_iter):
        p = _sigmoid(eta)
        grad = x.T @ (weight * (p - y))
        hess = (x * (weight * p * (1.0 - p))[:, None]).T @ x
        diag = np.maximum(np.diag(hess), 1e-12)
        step, h_step = np.zeros(k), np.zeros(k)
        for _sweep in range(200):
            change = 0.0
            for j in range(k):
                current = w[j] + step[j]
                new = float(_soft(current - (grad[j] + h_step[j]) / diag[j], lam / diag[j]))
                if new != current:
                    step[j] += new - current
                    h_step += hess[:, j] * (new - current)
                    change = max(change, abs(new - current))
            if change < 1e-15:
                break
        decrease = float(grad @ step) + lam * float(np.abs(w + step).sum() - np.abs(w).sum())
        if decrease > -tol * max(1.0, abs(value)):
            break
        direction, t = x @ step, 1.0
        while True:
            trial = _objective(eta + t * direction, y, weight)
            trial += lam * float(np.abs(w + t * step).sum())
            if trial <= value + 0.01 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        w, eta, value = w + t * step, eta + t * direction, trial
    return w


def group_folds(n: int, *, n_splits: int = N_SPLITS) -> NDArray[np.int64]:
    """Fold of each of ``n`` rows as ``GroupKFold`` deals one-row groups.

    Groups of equal size go, from the last to the first, to the lightest fold, so row
    ``i`` lands in fold ``(n − 1 − i) mod n_splits``.
    """
    if n < n_splits:
        raise ConfigError(f"cross-validation needs at least {n_splits} rows, got {n}")
    return (n - 1 - np.arange(n)) % n_splits


def _cross_validate(
    y: FloatArray,
    weight: FloatArray,
    fit: Callable[[NDArray[np.bool_], float, Any], Any],
    predict: Callable[[NDArray[np.bool_], Any], FloatArray],
    *,
    cs: FloatArray,
    n_splits: int,
) -> float:
    """The ``c`` of ``cs`` with the least summed held-out mean weighted log loss."""
    fold = group_folds(len(y), n_splits=n_splits)
    losses = np.zeros(len(cs))
    for f in range(n_splits):
        train, test = fold != f, fold == f
        coef = None
        for j, c in enumerate(cs):
            # Warm start along the path: each c has one optimum whatever the start.
            coef = fit(train, float(c), coef)
            q = np.clip(_sigmoid(predict(test, coef)), _EPS, 1 - _EPS)
            yt = y[test]
            losses[j] += float(np.mean(-weight[test] * (yt * np.log(q) + (1 - yt) * np.log(1 - q))))
    return float(cs[int(np.argmin(losses))])


def cv_l1_logistic(
    x: FloatArray,
    y: FloatArray,
    weight: FloatArray | None = None,
    *,
    cs: FloatArray = CS,
    n_splits: int = N_SPLITS,
) -> tuple[FloatArray, float]:
    """:func:`l1_logistic` with ``c`` picked by cross-validation, refitted on all rows.

    As scikit-learn's ``LogisticRegressionCV`` does for AlpacaEval: the score of a ``c`` is
    the sum over :func:`group_folds` of the held-out mean weighted log loss (predictions
    clipped to ``[1e-15, 1 − 1e-15]``); the first best ``c`` wins ties.  Returns
    ``(coefficients, c)``.
    """
    x = np.asarray(x, dtype=float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    best = _cross_validate(
        y,
        w,
        lambda rows, c, start: l1_logistic(x[rows], y[rows], w[rows], c=c, start=start),
        lambda rows, coef: x[rows] @ coef,
        cs=cs,
        n_splits=n_splits,
    )
    return l1_logistic(x, y, w, c=best), best


# -- length control -------------------------------------------------------------------------


def _std_delta(len_1: FloatArray, len_2: FloatArray) -> FloatArray:
    """``(len_1 − len_2) / sd`` over the rows given (0 where the lengths never differ)."""
    delta = np.asarray(len_1, dtype=float) - np.asarray(len_2, dtype=float)
    sd = float(np.std(delta, ddof=1)) if len(delta) > 1 else 0.0
    out: FloatArray = delta / sd if sd > 0 and math.isfinite(sd) else np.zeros_like(delta)
    return out


def _is_gamed(model: str, baseline: str) -> bool:
    """AlpacaEval's gamed baselines: the baseline's own verbose and concise variants."""
    return model != baseline and baseline in model and ("verbose" in model or "concise" in model)


def gamed_rows(annotations: pd.DataFrame, difficulty: pd.Series) -> pd.DataFrame:
    """The regulariser's rows: ``preference`` in [0, 1], ``std_delta_len``, ``difficulty``.

    Taken from the annotations of the baseline's verbose and concise variants, when present
    (AlpacaEval keeps the same rows in its ``df_gamed.csv``).
    """
    keep = [
        _is_gamed(str(m), str(b))
        for m, b in zip(annotations["model"], annotations["baseline"], strict=True)
    ]
    frames = []
    for _, group in annotations[np.asarray(keep, dtype=bool)].groupby("model", sort=True):
        frames.append(
            pd.DataFrame(
                {
                    "preference": _unit_preference(group["preference"].to_numpy(dtype=float)),
                    "std_delta_len": _std_delta(group["len_1"], group["len_2"]),
                    "difficulty": _lookup(difficulty, group),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["preference", "std_delta_len", "difficulty"])
    return pd.concat(frames, ignore_index=True)


def _unit_preference(preference: FloatArray) -> FloatArray:
    out: FloatArray = np.where(preference == 0.0, 1.5, preference) - 1.0
    return out


def _lookup(difficulty: pd.Series, rows: pd.DataFrame) -> FloatArray:
    """Difficulty of each row, by instruction, or by position when the table is numbered."""
    by_position = pd.api.types.is_integer_dtype(difficulty.index)
    keys = rows["position"] if by_position else rows["instruction"]
    values = difficulty.reindex(keys.to_numpy())
    if values.isna().any():
        missing = keys[values.isna().to_numpy()].iloc[0]
        raise ConfigError(
            f"no instruction difficulty for {'row' if by_position else ''} {missing!r}"
        )
    return values.to_numpy(dtype=float)


def length_controlled(
    rows: pd.DataFrame,
    difficulty: pd.Series,
    *,
    gamed: pd.DataFrame | None = None,
    gamed_lambda: float = GAMED_LAMBDA,
) -> dict[str, Any]:
    """The LC win rate of one model's rows against its baseline (see the module doc).

    Returns ``length_controlled_winrate`` and ``lc_standard_error`` (percent), the
    per-row predictions at equal length (``glm_preference``), the coefficients
    (``w_len``, ``w_difficulty``, ``w_model``) and the cross-validated ``C``.
    """
    d = _lookup(difficulty, rows)
    z = _std_delta(rows["len_1"], rows["len_2"])
    y = _unit_preference(rows["preference"].to_numpy(dtype=float))
    x = np.column_stack([np.tanh(z), d, np.ones(len(rows))])
    weight = np.ones(len(rows))
    if gamed is not None and len(gamed) and gamed_lambda:
        g = np.column_stack(
            [np.tanh(gamed["std_delta_len"]), gamed["difficulty"], np.zeros(len(gamed))]
        )
        # AlpacaEval puts the gamed rows first; the order decides the folds.
        x = np.vstack([g.astype(float), x])
        y = np.concatenate([gamed["preference"].to_numpy(dtype=float), y])
        # λ/2: AlpacaEval splits λ between its two gamed baselines.
        weight = np.concatenate([np.full(len(gamed), gamed_lambda / 2), weight])
    usable = np.isfinite(y)
    n_usable = int(usable.sum())
    if int(usable[len(y) - len(rows) :].sum()) < 2:
        nan = math.nan
        return {
            "length_controlled_winrate": nan,
            "lc_standard_error": nan,
            "glm_preference": np.full(len(rows), nan),
            "w_len": nan,
            "w_difficulty": nan,
            "w_model": nan,
            "C": nan,
        }
    # Fewer rows than folds (tiny runs, never AlpacaEval's 805): one row per fold.
    coef, c = cv_l1_logistic(x[usable], y[usable], weight[usable], n_splits=min(N_SPLITS, n_usable))
    predicted = _sigmoid(coef[2] + coef[1] * d)
    n = len(predicted)
    return {
        "length_controlled_winrate": 100 * float(predicted.mean()),
        "lc_standard_error": 100 * float(predicted.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
        "glm_preference": predicted,
        "w_len": float(coef[0]),
        "w_difficulty": float(coef[1]),
        "w_model": float(coef[2]),
        "C": c,
    }


def joint_logistic(x: sparse.csr_matrix, y: FloatArray, *, ridge: float = 1e-6) -> FloatArray:
    """Fractional logistic regression by Newton's method on a sparse design.

    ``ridge`` (a tiny L2 penalty) only keeps the fit finite when some model or instruction
    is won or lost every time.
    """
    x = sparse.csr_matrix(x)
    k = x.shape[1]
    theta = np.zeros(k)
    eta = np.zeros(x.shape[0])
    unit = np.ones(len(y))

    def objective(e: FloatArray, t: FloatArray) -> float:
        return _objective(e, y, unit) + 0.5 * ridge * float(t @ t)

    value = objective(eta, theta)
    for _ in range(100):
        p = _sigmoid(eta)
        grad = x.T @ (p - y) + ridge * theta
        hess = (x.T @ sparse.diags(p * (1 - p)) @ x + ridge * sparse.identity(k)).tocsc()
        step = -np.asarray(sparse_linalg.spsolve(hess, grad), dtype=float)
        direction, t = x @ step, 1.0
        while True:
            trial = objective(eta + t * direction, theta + t * step)
            if trial <= value or t < 1e-8:
                break
            t *= 0.5
        theta, eta = theta + t * step, eta + t * direction
        done = value - trial < 1e-12 * max(1.0, abs(value))
        value = trial
        if done or float(np.abs(t * step).max(initial=0.0)) < 1e-10:
            break
    return theta


def instruction_difficulty(annotations: pd.DataFrame) -> pd.Series:
    """Per-instruction difficulty from one joint fit over every model's annotations.

    AlpacaEval's estimate: a fractional logistic regression of the preference on a bias
    and a ``tanh`` length slope per model (the length difference scaled by the model's own
    sd) and one effect per instruction (the first instruction, by position, is the
    reference at 0); failed annotations and empty outputs are left out.  The instruction
    effects are the difficulty, indexed by instruction text.  AlpacaEval adds a
    not-gamed indicator (redundant with the model biases) and an L1 penalty whose ``C`` it
    cross-validates; this fit takes the penalty-free limit, with a tiny ridge only to keep
    it finite.
    """
    pref = annotations["preference"].to_numpy(dtype=float)
    keep = np.isfinite(pref) & (annotations["len_2"].to_numpy() != 0)
    frame = annotations[keep].reset_index(drop=True)
    y = _unit_preference(frame["preference"].to_numpy(dtype=float))
    models = list(pd.unique(frame["model"]))
    m_idx = frame["model"].map({m: k for k, m in enumerate(models)}).to_numpy()
    z = np.zeros(len(frame))
    for model in models:
        mask = (frame["model"] == model).to_numpy()
        z[mask] = _std_delta(frame.loc[mask, "len_1"], frame.loc[mask, "len_2"])
    order = frame.groupby("instruction", sort=False)["position"].min().sort_values(kind="stable")
    levels = list(order.index)
    i_idx = frame["instruction"].map({t: k for k, t in enumerate(levels)}).to_numpy()
    n, k_m = len(frame), len(models)
    rows = np.arange(n)
    has_item = i_idx > 0
    # Columns: model biases, model length slopes, instructions 1.. (0 is the reference).
    data = np.concatenate([np.ones(n), np.tanh(z), np.ones(int(has_item.sum()))])
    cols = np.concatenate([m_idx, k_m + m_idx, 2 * k_m + i_idx[has_item] - 1])
    row_ids = np.concatenate([rows, rows, rows[has_item]])
    x = sparse.csr_matrix((data, (row_ids, cols)), shape=(n, 2 * k_m + len(levels) - 1))
    theta = joint_logistic(x, y)
    effects = np.concatenate([[0.0], theta[2 * k_m :]])
    return pd.Series(effects, index=pd.Index(levels, name="instruction"), name="difficulty")


# -- the leaderboard ------------------------------------------------------------------------


def alpaca_eval_leaderboard(
    annotations: pd.DataFrame,
    *,
    difficulty: pd.Series | None = None,
    gamed: pd.DataFrame | None = None,
    gamed_lambda: float = GAMED_LAMBDA,
    avg_length: dict[str, int] | None = None,
) -> pd.DataFrame:
    """AlpacaEval 2's leaderboard: one row per model, sorted by LC win rate.

    Args:
        annotations: the long frame of the module doc (one baseline).
        difficulty: instruction difficulty indexed by instruction text (or by position,
            for AlpacaEval's own numbered table); estimated by
            :func:`instruction_difficulty` when omitted.
        gamed: the regulariser's rows (``preference`` in [0, 1], ``std_delta_len``,
            ``difficulty``), as AlpacaEval's ``df_gamed.csv`` holds them; taken from the
            annotations of the baseline's verbose and concise variants when omitted.
        avg_length: ``avg_length`` per model, when the model's outputs are at hand
            (AlpacaEval measures the outputs file); else the mean ``len_2`` of its rows,
            truncated as AlpacaEval truncates it.

    Returns:
        ``model`` and :data:`LEADERBOARD_COLUMNS`, rates in percent.
    """
    missing = set(ANNOTATION_COLUMNS) - set(annotations.columns)
    if missing:
        raise ConfigError(f"annotations lack the columns {', '.join(sorted(missing))}")
    baselines = pd.unique(annotations["baseline"])
    if len(baselines) != 1:
        raise ConfigError(
            "AlpacaEval scores every model against one baseline; found "
            + ", ".join(map(str, baselines))
        )
    baseline = str(baselines[0])
    if difficulty is None:
        difficulty = instruction_difficulty(annotations)
    if gamed is None:
        gamed = gamed_rows(annotations, difficulty)
    rows = []
    for model, group in annotations.groupby("model", sort=True):
        row: dict[str, Any] = {"model": model, **head_to_head(group["preference"].to_numpy())}
        lengths = group["len_2"].to_numpy(dtype=float)
        row["avg_length"] = (avg_length or {}).get(str(model), int(lengths.mean()))
        if model == baseline:
            row.update(length_controlled_winrate=50.0, lc_standard_error=0.0)
        else:
            lc = length_controlled(group, difficulty, gamed=gamed, gamed_lambda=gamed_lambda)
            row["length_controlled_winrate"] = lc["length_controlled_winrate"]
            row["lc_standard_error"] = lc["lc_standard_error"]
        rows.append(row)
    board = pd.DataFrame(rows, columns=["model", *LEADERBOARD_COLUMNS])
    board = board.sort_values("length_controlled_winrate", ascending=False, kind="stable")
    return board.reset_index(drop=True)


__all__ = [
    "ANNOTATION_COLUMNS",
    "CS",
    "GAMED_LAMBDA",
    "LEADERBOARD_COLUMNS",
    "alpaca_eval_leaderboard",
    "cv_l1_logistic",
    "gamed_rows",
    "group_folds",
    "head_to_head",
    "instruction_difficulty",
    "joint_logistic",
    "l1_logistic",
    "length_controlled",
]
