"""Judge meta-evaluation metrics: hand-computed agreement, α, consistency and bias figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from judgekit.errors import ConfigError
from judgekit.quality import agreement as meta
from judgekit.rank.length_control import length_controlled_win_rates

# -- agreement --------------------------------------------------------------------------------

# Nine comparisons: the judge's and the human's labels (see test_cohen_kappa_by_hand).
JUDGE = ["b", "tie", "a", "b", "tie", "a", "b", "tie", "a"]
HUMAN = ["b", "b", "a", "b", "tie", "b", "a", "b", "tie"]


def test_accuracy_with_and_without_ties_by_hand() -> None:
    # Equal: rows 0, 2, 3, 4 -> 4 of 9. Without ties: rows 0, 2, 3, 5, 6 -> 3 of 5.
    assert meta.accuracy(JUDGE, HUMAN) == {"value": pytest.approx(4 / 9), "n": 9}
    assert meta.accuracy(JUDGE, HUMAN, ties=False) == {"value": pytest.approx(0.6), "n": 5}
    # Weights count a row that many times: doubling row 5 (a miss) gives 3 of 6.
    weights = [1, 1, 1, 1, 1, 2, 1, 1, 1]
    assert meta.accuracy(JUDGE, HUMAN, ties=False, weights=weights)["value"] == pytest.approx(0.5)
    assert math.isnan(meta.accuracy(["tie"], ["a"], ties=False)["value"])


def test_cohen_kappa_by_hand() -> None:
    # Judge: a, b, tie 3 each (1/3). Human: a 2, b 5, tie 2 (of 9).
    # p_e = 1/3 * (2 + 5 + 2)/9 = 1/3; p_o = 4/9; kappa = (4/9 - 3/9) / (6/9) = 1/6.
    assert meta.cohen_kappa(JUDGE, HUMAN) == pytest.approx(1 / 6)
    assert meta.cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    # Both raters always say "a": chance explains everything, so kappa is undefined.
    assert math.isnan(meta.cohen_kappa(["a", "a"], ["a", "a"]))


def test_krippendorff_alpha_small_case_by_hand() -> None:
    # Units (a,a), (a,b), (b,b), (b,b): o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5.
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 7 * 2 / 30 = 8/15.
    table = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]]
    assert meta.krippendorff_alpha(table) == pytest.approx(8 / 15)
    # A unit with one value is not pairable and changes nothing.
    assert meta.krippendorff_alpha([*table, ["a", None]]) == pytest.approx(8 / 15)
    assert meta.krippendorff_alpha([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(meta.krippendorff_alpha([["a", "a"], ["a", "a"]]))
    assert math.isnan(meta.krippendorff_alpha([[None, None]]))


def test_krippendorff_alpha_matches_krippendorffs_worked_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units,
    # missing values; the paper gives 0.743 (nominal), 0.815 (ordinal), 0.849 (interval)
    # and 0.797 (ratio).
    n = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = np.array(coders, dtype=object).T
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, value in expected.items():
        assert meta.krippendorff_alpha(units, level=level) == pytest.approx(value, abs=5e-4)
    with pytest.raises(ConfigError, match="unknown level"):
        meta.krippendorff_alpha(units, level="cardinal")  # type: ignore[arg-type]


def test_score_correlations() -> None:
    corr = meta.score_correlations([1, 2, 3, 4], [10, 20, 30, 41])
    assert corr["n"] == 4
    assert corr["spearman"] == pytest.approx(1.0) and corr["kendall"] == pytest.approx(1.0)
    assert corr["pearson"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [10, 20, 30, 41])[0, 1])
    assert math.isnan(meta.score_correlations([1, 1, 1], [1, 2, 3])["pearson"])


# -- consistency ------------------------------------------------------------------------------


def _outcomes(rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["prompt_id", "model_a", "model_b", "win_a", "win_b", "tie"])
    return frame.assign(flipped=False, status="ok")


def test_transitivity_counts_cycles_among_decided_triads() -> None:
    outcomes = _outcomes(
        [
            ("p1", "x", "y", 1, 0, 0),  # x > y
            ("p1", "y", "z", 1, 0, 0),  # y > z
            ("p1", "x", "z", 0, 1, 0),  # z > x: a cycle
            ("p2", "x", "y", 1, 0, 0),
            ("p2", "y", "z", 1, 0, 0),
            ("p2", "x", "z", 1, 0, 0),  # transitive
            ("p3", "x", "y", 1, 0, 0),
            ("p3", "y", "z", 0, 0, 1),  # a tie: the triad is not decided
            ("p3", "x", "z", 0, 1, 0),
        ]
    )
    result = meta.transitivity_violations(outcomes)
    assert result == {"value": 0.5, "n": 2, "cycles": 1, "prompts_with_cycles": 1}


def test_repeat_variance_and_agreement() -> None:
    samples = pd.DataFrame(
        {
            "prompt_id": ["p1", "p1", "p2", "p2", "p3"],
            "model_a": ["x"] * 5,
            "model_b": ["y"] * 5,
            "sample": [1, 2, 1, 2, 1],
            "win_a": [1.0, 0.0, 0.0, 0.0, 1.0],
            "win_b": [0.0, 1.0, 0.0, 0.0, 0.0],
            "tie": [0.0, 0.0, 1.0, 1.0, 0.0],
        }
    )
    # p1: scores 1 and 0 -> variance 0.5, labels differ; p2: 0.5 twice -> 0, same; p3 once.
    assert meta.repeat_variance(samples) == {"variance": 0.25, "agreement": 0.5, "n": 2}
    assert meta.repeat_variance(samples[samples["prompt_id"] == "p3"])["n"] == 0


def test_flip_rate_and_position_preference() -> None:
    outcomes = _outcomes([("p1", "x", "y", 0.5, 0.5, 0), ("p2", "x", "y", 1, 0, 0)])
    outcomes.loc[0, "flipped"] = True
    outcomes.loc[2] = ["p3", "x", "y", 0, 0, 0, False, "parse_error"]
    assert meta.flip_rate(outcomes) == {"value": 0.5, "n": 2}
    verdicts = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok", "parse_error"],
            "p_first": [0.9, 0.7, 0.1, 0.0],
            "p_second": [0.1, 0.2, 0.2, 0.0],
            "p_tie": [0.0, 0.1, 0.7, 0.0],
        }
    )
    assert meta.position_preference(verdicts) == {"value": 1.0, "n": 2}


# -- biases -----------------------------------------------------------------------------------


def test_length_preference_counts_decisive_unequal_pairs() -> None:
    frame = pd.DataFrame(
        {
            "win_a": [1, 0, 0, 1, 0],
            "win_b": [0, 1, 0, 0, 1],
            "tie": [0, 0, 1, 0, 0],
            "len_a": [10, 10, 10, 5, 7],
            "len_b": [5, 20, 1, 5, 3],
        }
    )
    # Row 2 is a tie and row 3 has equal lengths; rows 0, 1 won by the longer, row 4 not.
    result = meta.length_preference(frame)
    assert result["value"] == pytest.approx(2 / 3) and result["n"] == 3
    assert 0 < result["ci_low"] < 2 / 3 < result["ci_high"] < 1


def _synthetic(seed: int, *, length_effect: float, gap: float) -> pd.DataFrame:
    """X and Y answer 600 prompts; X writes longer answers. The judge's log-odds for X are
    ``gap + length_effect * tanh(delta / sd)``."""
    rng = np.random.default_rng(seed)
    n = 600
    len_x = rng.normal(900, 250, n).clip(50)
    len_y = rng.normal(500, 250, n).clip(50)
    delta = len_x - len_y
    logit = gap + length_effect * np.tanh(delta / delta.std())
    x_wins = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "model_a": "X",
            "model_b": "Y",
            "win_a": x_wins.astype(float),
            "win_b": (~x_wins).astype(float),
            "tie": 0.0,
            "len_a": len_x,
            "len_b": len_y,
        }
    )


def test_length_controlled_win_rate_moves_toward_half_for_a_length_biased_judge() -> None:
    biased = length_controlled_win_rates(_synthetic(0, length_effect=2.5, gap=0.0))
    x = biased.table.set_index("model").loc["X"]
    assert x["win_rate"] > 0.7  # the judge rewards X's longer answers
    assert abs(x["lc_win_rate"] - 0.5) < 0.06  # but X is no better once length is held equal
    assert abs(x["lc_win_rate"] - 0.5) < abs(x["win_rate"] - 0.5) / 4
    assert biased.length_coef > 1.5
    # A real quality gap with no length effect survives length control.
    fair = length_controlled_win_rates(_synthetic(1, length_effect=0.0, gap=1.0))
    x = fair.table.set_index("model").loc["X"]
    assert abs(x["lc_win_rate"] - x["win_rate"]) < 0.05
    assert abs(fair.length_coef) < 0.3


def test_style_preference_reads_lists_and_markdown() -> None:
    frame = pd.DataFrame(
        {
            "output_a": ["- one\n- two", "## Title\nplain", "plain", "**bold**"],
            "output_b": ["plain", "plain", "1. one\n2. two", "plain"],
            "win_a": [1, 1, 1, 0],
            "win_b": [0, 0, 0, 1],
            "tie": [0, 0, 0, 0],
        }
    )
    style = meta.style_preference(frame)
    # Lists differ in rows 0 (a has them, a wins) and 2 (b has them, a wins).
    assert style["lists"]["value"] == pytest.approx(0.5) and style["lists"]["n"] == 2
    # Markdown differs in all four rows; the richer answer wins rows 0 and 1 only.
    assert style["markdown"]["value"] == pytest.approx(0.5) and style["markdown"]["n"] == 4


def test_self_preference_rate_and_dbg() -> None:
    comparisons = pd.DataFrame(
        {
            "prompt_id": ["p1", "p2", "p3", "p4"],
            "model_a": ["me", "other", "me", "x"],
            "model_b": ["other", "me", "x", "other"],
            "win_a": [1.0, 0.0, 0.0, 1.0],
            "win_b": [0.0, 1.0, 0.0, 0.0],
            "tie": [0.0, 0.0, 1.0, 0.0],
        }
    )
    raw = meta.self_preference(comparisons, self_model="me")
    assert raw == {"rate": pytest.approx(2.5 / 3), "n": 3}
    # Gold: "me" wins p1, loses p2, ties p3 -> 0.5; the judge gives it 2.5/3 on the same rows.
    human = comparisons.assign(human=["a", "a", "tie", "a"])
    result = meta.self_preference(comparisons, self_model="me", human=human)
    assert result["gold_rate"] == pytest.approx(0.5)
    assert result["dbg"] == pytest.approx(2.5 / 3 - 0.5) and result["n_labelled"] == 3


def test_operations_keeps_unknown_totals_unknown() -> None:
    calls = pd.DataFrame(
        {
            "status": ["ok", "ok", "error"],
            "latency_s": [0.1, 0.3, 0.2],
            "prompt_tokens": [10, 20, None],
            "completion_tokens": [None, None, None],
            "cost": [None, None, None],
        }
    )
    verdicts = pd.DataFrame({"status": ["ok", "parse_error", "judge_error", "ok"]})
    ops = meta.operations(calls, verdicts)
    assert ops["parse_failure_rate"] == 0.25 and ops["judge_error_rate"] == 0.25
    assert ops["mean_latency_s"] == pytest.approx(0.2) and ops["prompt_tokens"] == 30
    assert math.isnan(ops["completion_tokens"]) and math.isnan(ops["cost"])
