"""Leaderboards by any method and category, head-to-head matrices and display helpers."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from judgekit.errors import ConfigError, JudgekitError
from judgekit.rank import PairwiseData, bradley_terry, elo, plackett_luce, ratings_frame
from judgekit.rank.leaderboard import win_rates
from judgekit.rank.scale import ELO_PER_NAT
from judgekit.rank.style import style_controlled_bt
from judgekit.rank.style_features import style_features_from_frame
from judgekit.rank.ties import logistic
from judgekit.store import dashboard_queries as dq
from judgekit.store.db import Store

PAIRWISE_METHODS = ("bt", "elo", "pl", "bt-style")
#: Methods whose ratings are means of per-response scores (stored as ``<prefix>:<criterion>``).
SCORE_PREFIXES = ("mean", "checklist")
METHOD_LABELS = {
    "bt": "Bradley-Terry",
    "elo": "Elo",
    "pl": "Plackett-Luce",
    "bt-style": "Style-controlled BT",
    "openskill": "OpenSkill",
    "bt-davidson": "Bradley-Terry (Davidson ties)",
    "bt-rao-kupper": "Bradley-Terry (Rao-Kupper ties)",
    "mean": "Mean rubric score",
    "checklist": "Checklist score",
}
#: Bootstrap rounds (Elo: shuffled orders) when the dashboard ranks; style control uses
#: sandwich intervals, which cost one fit instead of one per round. Bradley-Terry uses the
#: run's own ``bootstrap`` option when it has one, so a category's intervals are built the
#: way the run's were.
ROUNDS = {"bt": 1000, "elo": 100, "pl": 100, "bt-style": 0}
BOARD_COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "win_rate", "n"]


# -- leaderboards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """A leaderboard: ``frame`` has :data:`BOARD_COLUMNS`, best first."""

    frame: pd.DataFrame
    method: str
    computed: bool
    """Ranked here from the stored outcomes or scores, rather than read from ``ratings``."""
    scale: Literal["elo", "score"] = "elo"
    notes: tuple[str, ...] = ()


def method_choices(store: Store, *, run_id: str) -> list[str]:
    """Methods the dashboard can show for a run: the pairwise rankers when the run stored
    outcomes, then every stored method (``mean:<criterion>`` and such) not already listed."""
    stored = dq.rating_methods(store, run_id=run_id)
    choices = list(PAIRWISE_METHODS) if dq.outcome_count(store, run_id=run_id) else []
    return choices + [m for m in stored if m not in choices]


def method_family(method: str) -> str:
    """``mean:helpfulness`` -> ``mean``; ranker names are their own family."""
    prefix, sep, _ = method.partition(":")
    return prefix if sep and prefix in SCORE_PREFIXES else method


def method_label(method: str) -> str:
    """A human name for a method or family, e.g. ``Mean rubric score · helpfulness``."""
    family = method_family(method)
    label = METHOD_LABELS.get(family, family)
    if family != method:
        label += " · " + method.partition(":")[2]
    return label


def leaderboard(
    store: Store, *, run_id: str, method: str = "bt", category: str | None = None, seed: int = 0
) -> Board:
    """The leaderboard of a run by one method, optionally on one prompt category only.

    Stored ratings are used as they are when no category is chosen; otherwise the ratings
    are fitted here by :mod:`judgekit.rank` (or, for score methods, re-averaged by the rubric
    engine) on the chosen prompts.
    """
    family = method_family(method)
    if category is None:
        stored = dq.ratings(store, run_id=run_id, method=method)
        if not stored.empty:
            scale = "score" if family in SCORE_PREFIXES else "elo"
            return Board(_board_columns(stored), method, computed=False, scale=scale)
    if family in SCORE_PREFIXES:
        return _score_board(store, run_id=run_id, method=method, category=category)
    if method not in PAIRWISE_METHODS:
        note = f"{method_label(method)} ratings are stored for the whole run only."
        return Board(_empty_board(), method, computed=False, notes=(note,))
    frame = dq.pairwise_outcomes(
        store, run_id=run_id, category=category, texts=method == "bt-style"
    )
    info = dq.run_info(store, run_id=run_id) or {}
    config = info.get("config", {})
    ties = str(config.get("ties") or "half")
    rounds = config.get("bootstrap")
    return rank_outcomes(
        frame,
        method=method,
        ties=ties,
        seed=int(config.get("seed") or seed),
        rounds=int(rounds) if method == "bt" and isinstance(rounds, int) else None,
    )


def rank_outcomes(
    outcomes: pd.DataFrame,
    *,
    method: str,
    ties: str = "half",
    seed: int = 0,
    rounds: int | None = None,
) -> Board:
    """Rank stored pairwise outcomes with one of :data:`PAIRWISE_METHODS`.

    Plackett-Luce needs strict rankings, so each comparison counts for its most likely result
    there (ties are dropped, as choix drops them); the other rankers use the soft outcomes.
    ``rounds`` overrides the bootstrap rounds (Elo: shuffles) of :data:`ROUNDS`.
    """
    n_rounds = ROUNDS.get(method, 0) if rounds is None else rounds
    ok = outcomes[outcomes["status"] == "ok"]
    if ok.empty:
        note = "No usable comparisons for this selection."
        return Board(_empty_board(), method, computed=True, notes=(note,))
    notes: list[str] = []
    data = PairwiseData.from_frame(ok[["model_a", "model_b", "win_a", "win_b", "tie"]])
    try:
        if method == "bt":
            ratings = bradley_terry(data, ties=ties, bootstrap=n_rounds, seed=seed)
        elif method == "elo":
            ratings = elo(data, shuffles=n_rounds, seed=seed)
        elif method == "pl":
            ratings = plackett_luce(hard_outcomes(data), bootstrap=n_rounds, seed=seed)
            dropped = int(ratings.extras.get("dropped_ties", 0))
            if dropped:
                notes.append(f"Plackett-Luce left out {dropped} tied comparisons.")
        elif method == "bt-style":
            styled = with_style_features(data, ok)
            if styled is None:
                notes.append("The answers do not differ in style, so this is plain BT.")
                ratings = bradley_terry(data, ties="half", bootstrap=ROUNDS["bt"], seed=seed)
            else:
                ratings = style_controlled_bt(styled, bootstrap=n_rounds, seed=seed)
                coefficients = ratings.extras.get("style_coefficients", {})
                notes.append(
                    "Style coefficients (logit per SD; positive = the judge rewards more): "
                    + ", ".join(f"{k} {v:+.2f}" for k, v in coefficients.items())
                )
        else:
            raise JudgekitError(f"unknown pairwise method {method!r}")
    except JudgekitError as exc:
        return Board(_empty_board(), method, computed=True, notes=(str(exc),))
    except np.linalg.LinAlgError:
        # A degenerate design (e.g. features that move with the models) has no unique fit.
        note = f"{method_label(method)} has no unique fit on this selection."
        return Board(_empty_board(), method, computed=True, notes=(note,))
    board = ratings_frame(ratings).merge(win_rates(data), on="model", how="left")
    return Board(_board_columns(board), method, computed=True, notes=tuple(notes))


def with_style_features(data: PairwiseData, outcomes: pd.DataFrame) -> PairwiseData | None:
    """``data`` with the arena-hard style contrasts of each comparison's two answers.

    Features that never vary (no answer has a markdown header, say) are left out: a constant
    column carries no information and would make the style model's Hessian singular. Returns
    None when no feature varies.
    """
    texts = pd.DataFrame(
        {
            "response_a": outcomes["output_a"].fillna("").astype(str).to_numpy(),
            "response_b": outcomes["output_b"].fillna("").astype(str).to_numpy(),
        }
    )
    features, names = style_features_from_frame(texts)
    keep = np.flatnonzero(features.std(axis=0) > 0)
    if keep.size == 0:
        return None
    return PairwiseData.from_arrays(
        models=data.models,
        a=data.a,
        b=data.b,
        win_a=data.win_a,
        win_b=data.win_b,
        tie=data.tie,
        weight=data.weight,
        features=features[:, keep],
        feature_names=[names[k] for k in keep],
    )


def hard_outcomes(data: PairwiseData) -> PairwiseData:
    """Each comparison's most likely result as a one-hot outcome (a tie unless one side has a
    strict majority of the probability), the reading :class:`judgekit.types.Outcome` uses."""
    a_wins = data.win_a > np.maximum(data.win_b, data.tie)
    b_wins = data.win_b > np.maximum(data.win_a, data.tie)
    return PairwiseData.from_arrays(
        models=data.models,
        a=data.a,
        b=data.b,
        win_a=a_wins.astype(float),
        win_b=b_wins.astype(float),
        tie=(~a_wins & ~b_wins).astype(float),
    )


def _score_board(store: Store, *, run_id: str, method: str, category: str | None) -> Board:
    """Mean scores of one criterion on the chosen prompts, re-averaged by the rubric engine."""
    from judgekit.runs.grade import OVERALL, mean_leaderboard

    criterion = method.partition(":")[2]
    rows = dq.score_rows(store, run_id=run_id, category=category)
    if rows.empty:
        note = "No scores for this selection."
        return Board(_empty_board(), method, computed=True, scale="score", notes=(note,))
    notes: list[str] = []
    if criterion == OVERALL:
        weights = _rubric_weights(store, run_id=run_id, criteria=sorted(rows["criterion"].unique()))
        if weights is None:
            weights = dict.fromkeys(sorted(rows["criterion"].unique()), 1.0)
            notes.append("The run's rubric could not be reloaded; criteria weigh the same.")
    else:
        weights = {criterion: 1.0}
    long = mean_leaderboard(rows, models=dq.run_models(store, run_id=run_id), weights=weights)
    long = long[(long["criterion"] == criterion) & long["score"].notna()]
    board = long.rename(columns={"score": "rating"}).assign(win_rate=np.nan)
    return Board(_board_columns(board), method, True, scale="score", notes=tuple(notes))


def _rubric_weights(store: Store, *, run_id: str, criteria: list[str]) -> dict[str, float] | None:
    """The criterion weights of a grade run's rubric, when the same rubric still loads."""
    from judgekit.rubrics import load_rubric

    config = (dq.run_info(store, run_id=run_id) or {}).get("config", {})
    try:
        loaded = load_rubric(str(config.get("rubric")))
    except JudgekitError:
        return None
    if loaded.content_hash() != config.get("rubric_hash"):
        return None
    weights = {c.id: float(c.weight) for c in loaded.rubric.criteria}
    return weights if set(weights) == set(criteria) else None


def _empty_board() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in BOARD_COLUMNS})


def _board_columns(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in BOARD_COLUMNS:
        if column not in out:
            out[column] = np.nan
    out = out.sort_values(["rating", "model"], ascending=[False, True], kind="stable")
    return out[BOARD_COLUMNS].reset_index(drop=True)


def format_ci(low: float | None, high: float | None, *, decimals: int = 1) -> str:
    """``"998.4 – 1030.9"``, or ``"–"`` when the interval is missing."""
    if low is None or high is None or _missing(low) or _missing(high):
        return "–"
    return f"{low:.{decimals}f} – {high:.{decimals}f}"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def display_board(board: Board) -> pd.DataFrame:
    """The leaderboard as people read it: Rank, Model, Rating, 95 % CI, Win rate (in %),
    Comparisons. Ratings keep 1 decimal; the CI is one ``low – high`` string. Score boards
    show Score (2 decimals) and Responses instead, and no win rate."""
    frame = board.frame
    elo_scale = board.scale == "elo"
    decimals = 1 if elo_scale else 2
    ci = [
        format_ci(lo, hi, decimals=decimals)
        for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "Rank": pd.array(frame["rank"], dtype="Int64"),
            "Model": frame["model"].astype(str),
            "Rating" if elo_scale else "Score": frame["rating"].astype(float).round(decimals),
            "95 % CI": ci,
        }
    )
    if elo_scale:
        out["Win rate"] = (frame["win_rate"].astype(float) * 100).round(1)
    out["Comparisons" if elo_scale else "Responses"] = pd.array(
        frame["n"].astype(float).round(), dtype="Int64"
    )
    return out


_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def markdown_escape(text: object) -> str:
    """``text`` with every markdown, HTML and LaTeX control character backslash-escaped, for
    the few places (headings, captions) where untrusted names sit inside markdown."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text))


def inert_label(text: object, *, max_chars: int = 32) -> str:
    """Text for chart labels: plotly reads a subset of HTML in labels, so ``<``, ``>`` and
    ``&`` are escaped; long names are cut (with an ellipsis) so the chart keeps its room."""
    value = str(text)
    if len(value) > max_chars:
        value = value[: max_chars - 1] + "…"
    return html.escape(value, quote=False)


# -- head to head ---------------------------------------------------------------------------


def win_matrix(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed head-to-head results: (score of row vs column, comparisons per cell).

    The score is the row model's mean of ``win + tie / 2`` over the usable comparisons of the
    two models (both orders already combined); cells without comparisons are NaN.
    """
    ok = outcomes[outcomes["status"] == "ok"]
    score_a = ok["win_a"] + 0.5 * ok["tie"]
    long = pd.concat(
        [
            pd.DataFrame({"row": ok["model_a"], "col": ok["model_b"], "score": score_a}),
            pd.DataFrame({"row": ok["model_b"], "col": ok["model_a"], "score": 1.0 - score_a}),
        ]
    )
    models = sorted(set(outcomes["model_a"]) | set(outcomes["model_b"]))
    grouped = long.groupby(["row", "col"])["score"]
    scores = grouped.mean().unstack().reindex(index=models, columns=models)
    counts = grouped.size().unstack().reindex(index=models, columns=models).fillna(0).astype(int)
    return scores.astype(float), counts


def predicted_win_matrix(board: Board) -> pd.DataFrame:
    """P(row beats column) that Bradley-Terry ratings on the Elo scale predict, with a tie
    counting half: ``σ((r_row - r_col) / ELO_PER_NAT)``; the diagonal is NaN."""
    if board.scale != "elo":
        raise ConfigError("predicted win probabilities need ratings on the Elo scale")
    frame = board.frame.sort_values("model")
    models = frame["model"].astype(str).tolist()
    rating = frame["rating"].to_numpy(dtype=float)
    probs = logistic((rating[:, None] - rating[None, :]) / ELO_PER_NAT)
    np.fill_diagonal(probs, np.nan)
    return pd.DataFrame(probs, index=models, columns=models)


@dataclass(frozen=True)
class HeadToHead:
    """Observed and Bradley-Terry-predicted head-to-head results of a run."""

    observed: pd.DataFrame
    """Score of the row model against the column model (a tie counts half); NaN: not met."""
    counts: pd.DataFrame
    """Usable comparisons per cell."""
    predicted: pd.DataFrame
    """P(row beats column) from the BT ratings (a tie counting half)."""
    board: Board


def head_to_head(store: Store, *, run_id: str, category: str | None = None) -> HeadToHead | None:
    """Win-rate matrix and BT-predicted win probabilities, or None for a run without
    pairwise outcomes (a grade or rank run)."""
    outcomes = dq.pairwise_outcomes(store, run_id=run_id, category=category)
    if outcomes.empty:
        return None
    observed, counts = win_matrix(outcomes)
    board = leaderboard(store, run_id=run_id, method="bt", category=category)
    predicted = predicted_win_matrix(board) if not board.frame.empty else observed * np.nan
    return HeadToHead(observed=observed, counts=counts, predicted=predicted, board=board)


def outcome_winner(win_a: pd.Series, win_b: pd.Series, tie: pd.Series) -> pd.Series:
    """``"a"``, ``"b"`` or ``"tie"``: a strict majority of the probability decides."""
    a = win_a > np.maximum(win_b, tie)
    b = win_b > np.maximum(win_a, tie)
    return pd.Series(np.where(a, "a", np.where(b, "b", "tie")), index=win_a.index)
