"""The trust report: its statistics against scipy and hand-computed cases, and fake judges in
each regime (position-bound, random, an oracle, a length-follower) with their warnings."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import judgekit
from judgekit import JudgeTrustWarning
from judgekit.judges.fakes import FixedJudge, ScriptedJudge
from judgekit.quality import trust as tr
from judgekit.quality import trust_stats as ts
from judgekit.rank.data import PairwiseData
from judgekit.store.db import open_store
from judgekit.store.trust_queries import load_trust
from judgekit.types import JudgeRequest

# -- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (36, 60), (60, 60), (1, 1), (517, 1000)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = ts.wilson_ci(k, n)
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_interval_of_nothing_is_undefined() -> None:
    assert all(math.isnan(x) for x in ts.wilson_ci(0, 0))


@pytest.mark.parametrize(
    ("k", "n", "rate"), [(36, 60, 0.5), (0, 60, 0.5), (9, 40, 0.25), (5, 5, 0.5)]
)
def test_binomial_p_values_match_scipy(k: int, n: int, rate: float) -> None:
    assert ts.binomial_p(k, n, rate) == pytest.approx(stats.binomtest(k, n, rate).pvalue)


def test_sixty_percent_on_sixty_pairs_is_not_better_than_chance() -> None:
    # 36 of 60 right: a binomial test against 50 % gives p = 0.155 (two-sided).
    assert ts.binomial_p(36, 60, 0.5) == pytest.approx(0.1550, abs=5e-5)


def test_cohen_kappa_on_a_hand_computed_table() -> None:
    # 10 items: both say a 4 times, both b 3 times, (a, b) twice, (b, a) once.
    # p_o = 0.7; rater 1 says a 6/10, rater 2 5/10: p_e = 0.6*0.5 + 0.4*0.5 = 0.5; κ = 0.4.
    r1 = ["a"] * 4 + ["b"] * 3 + ["a"] * 2 + ["b"]
    r2 = ["a"] * 4 + ["b"] * 3 + ["b"] * 2 + ["a"]
    assert ts.cohen_kappa(r1, r2) == pytest.approx(0.4)
    # A three-class case: p_o = 4/6; p_e = (3·2 + 2·2 + 1·2)/36 = 1/3; κ = (2/3 − 1/3)/(2/3).
    r1 = ["a", "a", "a", "b", "b", "tie"]
    r2 = ["a", "a", "b", "b", "tie", "tie"]
    assert ts.cohen_kappa(r1, r2) == pytest.approx(0.5)


def test_kappa_bootstrap_interval_is_seeded_and_brackets_kappa() -> None:
    rng = np.random.default_rng(1)
    human = rng.choice(["a", "b"], size=200)
    judge = np.where(rng.random(200) < 0.8, human, np.where(human == "a", "b", "a"))
    kappa = ts.cohen_kappa(judge, human)
    low, high = ts.kappa_bootstrap_ci(judge, human, rounds=500, seed=3)
    assert low < kappa < high
    assert (low, high) == ts.kappa_bootstrap_ci(judge, human, rounds=500, seed=3)
    assert 0.4 < low and high < 0.8


def _two_models(win_a: float, win_b: float, tie: float) -> PairwiseData:
    rows = int(win_a + win_b + tie)
    outcomes = ["a"] * int(win_a) + ["b"] * int(win_b) + ["t"] * int(tie)
    return PairwiseData.from_arrays(
        models=("x", "y"),
        a=np.zeros(rows, dtype=np.int64),
        b=np.ones(rows, dtype=np.int64),
        win_a=np.array([o == "a" for o in outcomes], dtype=float),
        win_b=np.array([o == "b" for o in outcomes], dtype=float),
        tie=np.array([o == "t" for o in outcomes], dtype=float),
    )


@pytest.mark.parametrize(("wins", "losses", "ties"), [(14, 6, 0), (10, 4, 6), (10, 10, 0)])
def test_likelihood_ratio_test_matches_a_hand_computed_two_model_case(
    wins: int, losses: int, ties: int
) -> None:
    # Two models: the MLE win probability is p̂ = (wins + ties/2) / n, the null's is 1/2, so
    # LR = 2 [y ln p̂ + (n − y) ln(1 − p̂) − n ln ½] with y = wins + ties/2, on 1 df.
    n = wins + losses + ties
    y = wins + ties / 2
    p = y / n
    lr = 2 * (y * math.log(p) + (n - y) * math.log(1 - p) - n * math.log(0.5))
    result = ts.likelihood_ratio_test(_two_models(wins, losses, ties))
    assert result.df == 1
    assert result.statistic == pytest.approx(lr, abs=1e-8)
    assert result.p_value == pytest.approx(stats.chi2.sf(lr, 1), abs=1e-10)


def test_likelihood_ratio_test_counts_one_df_per_model_in_each_connected_group() -> None:
    # x-y and z-w are never compared with each other: 4 models, 2 components, 2 df.
    data = PairwiseData.from_arrays(
        models=("x", "y", "z", "w"),
        a=np.array([0, 0, 0, 2, 2, 2]),
        b=np.array([1, 1, 1, 3, 3, 3]),
        win_a=np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0]),
        win_b=np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
        tie=np.zeros(6),
    )
    assert ts.likelihood_ratio_test(data).df == 2


def test_kruskal_wallis_separation_matches_scipy() -> None:
    scores = pd.DataFrame(
        {
            "model": ["a"] * 5 + ["b"] * 5 + ["c"] * 4,
            "score": [1, 2, 2, 3, 1, 4, 5, 4, 5, 3, 2, 3, 3, 2],
        }
    )
    expected = stats.kruskal([1, 2, 2, 3, 1], [4, 5, 4, 5, 3], [2, 3, 3, 2])
    result = ts.kruskal_wallis_test(scores)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.df == 2
    constant = scores.assign(score=3)
    assert ts.kruskal_wallis_test(constant).p_value == 1.0


def test_separated_pairs_counts_non_overlapping_intervals() -> None:
    board = pd.DataFrame({"ci_low": [10.0, 5.0, 0.0], "ci_high": [12.0, 11.0, 4.0]})
    # (1st, 2nd) overlap; (1st, 3rd) and (2nd, 3rd) do not.
    assert ts.separated_pairs(board) == (2, 3)
    assert ts.separated_pairs(board.assign(ci_low=np.nan)) == (None, 3)


def test_label_figures_and_trivial_baselines_on_a_hand_case() -> None:
    human = ["a", "a", "b", "b", "a", "b"]
    judge = ["a", "b", "b", "tie", "a", "a"]
    len_a = [10, 50, 5, 30, 7, 7]
    len_b = [20, 10, 9, 10, 7, 1]
    # always longer: b, a, b, a, tie, a -> right on rows 2 and 3 -> 2/6.
    figures = tr.label_figures(judge, human, len_a=len_a, len_b=len_b, rounds=200)
    assert figures["accuracy"] == pytest.approx(3 / 6)
    assert figures["always_longer_accuracy"] == pytest.approx(2 / 6)
    assert figures["always_first_accuracy"] == pytest.approx(3 / 6)
    assert figures["always_second_accuracy"] == pytest.approx(3 / 6)
    assert figures["chance_rate"] == 0.5
    assert figures["p_chance"] == pytest.approx(stats.binomtest(3, 6, 0.5).pvalue)
    assert figures["accuracy_ci"] == pytest.approx(ts.wilson_ci(3, 6))
    # With human ties the chance rate is the majority class's share.
    with_ties = tr.label_figures(["a", "a", "tie", "b"], ["a", "a", "a", "tie"], rounds=10)
    assert with_ties["chance_rate"] == 0.75
    assert with_ties["p_chance"] == pytest.approx(stats.binomtest(2, 4, 0.75).pvalue)


def test_report_round_trips_and_names_the_label_keys_only_with_labels() -> None:
    report = tr.TrustReport(kind="pairwise", flip_rate=0.25, flip_rate_ci=(0.1, 0.4))
    payload = report.to_dict()
    for key in ("flip_rate", "flip_rate_ci", "first_position_rate", "p_first_position"):
        assert key in payload
    assert "p_no_difference" in payload and payload["warnings"] == []
    assert "accuracy" not in payload and "kappa_ci" not in payload
    assert tr.TrustReport.from_dict(json.loads(json.dumps(payload))) == report
    labelled = tr.with_labels(report, tr.label_figures(["a", "b"], ["a", "a"], rounds=10))
    again = tr.TrustReport.from_dict(json.loads(json.dumps(labelled.to_dict())))
    assert again == labelled
    assert set(tr.LABEL_KEYS) <= set(labelled.to_dict())


# -- fake judges in each regime --------------------------------------------------------------

MODELS = ("m0", "m1", "m2", "m3")  # m0 is best


def _outputs(tmp_path: Path, *, prompts: int = 12, lengths: bool = False) -> list[Path]:
    rng = np.random.default_rng(7)
    files = []
    for rank, model in enumerate(MODELS):
        rows = []
        for i in range(prompts):
            size = int(rng.integers(5, 60))
            text = f"<<q{3 - rank}>> <<len{size}>> " + "w" * size
            rows.append(
                {"prompt_id": f"p{i}", "prompt": f"Question {i}?", "model": model, "output": text}
            )
        path = tmp_path / f"{model}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        files.append(path)
    return files


def _shown(request: JudgeRequest, tag: str) -> list[int]:
    text = "\n".join(m.content for m in request.messages)
    return [int(x) for x in re.findall(rf"<<{tag}(\d+)>>", text)]


def _compare(
    files: list[Path], judge: object, tmp_path: Path, **kw: object
) -> judgekit.CompareResult:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = judgekit.compare(files, judge=judge, db=tmp_path / "t.duckdb", bootstrap=200, **kw)
    raised = [str(w.message) for w in caught if issubclass(w.category, JudgeTrustWarning)]
    assert raised == list(result.trust.warnings)
    return result


def test_always_second_judge_warns_about_flips_and_position(tmp_path: Path) -> None:
    result = _compare(_outputs(tmp_path), FixedJudge("B"), tmp_path)
    trust = result.trust
    assert trust.flip_rate == 1.0 and trust.first_position_rate == 0.0
    assert any("swapped places" in w for w in trust.warnings)
    assert any("shown first" in w for w in trust.warnings)
    # The report is stored with the run, as the JSON of the CLI.
    with open_store(tmp_path / "t.duckdb") as store:
        assert load_trust(store, result.run_id) == trust.to_dict()


def test_random_judge_warns_that_the_board_cannot_separate_the_models(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    judge = ScriptedJudge(lambda r: "[[A]]" if rng.random() < 0.5 else "[[B]]")
    trust = _compare(_outputs(tmp_path), judge, tmp_path).trust
    assert trust.p_no_difference is not None and trust.p_no_difference >= 0.05
    assert any("cannot tell the models apart" in w for w in trust.warnings)


def test_oracle_judge_raises_no_warning_and_separates_the_models(tmp_path: Path) -> None:
    def oracle(request: JudgeRequest) -> str:
        first, second = _shown(request, "q")[-2:]
        return "[[A]]" if first > second else "[[B]]"

    result = _compare(_outputs(tmp_path), ScriptedJudge(oracle), tmp_path)
    trust = result.trust
    assert trust.warnings == ()
    assert trust.flip_rate == 0.0
    assert trust.p_no_difference is not None and trust.p_no_difference < 1e-6
    assert trust.n_separated_pairs is not None and trust.n_separated_pairs >= 3
    assert list(result.leaderboard["model"]) == list(MODELS)


def test_always_longer_judge_does_not_beat_the_always_longer_baseline(tmp_path: Path) -> None:
    files = _outputs(tmp_path)

    def longer(request: JudgeRequest) -> str:
        first, second = _shown(request, "len")[-2:]
        return "[[A]]" if first >= second else "[[B]]"

    # Human labels that ignore length: the better model (by q) wins, whatever its length.
    labels = tmp_path / "labels.jsonl"
    rows = [
        {"prompt_id": f"p{i}", "model_a": a, "model_b": b, "winner": "model_a"}
        for i in range(12)
        for a, b in [("m0", "m1"), ("m1", "m2"), ("m2", "m3"), ("m0", "m3")]
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    trust = _compare(files, ScriptedJudge(longer), tmp_path, human=labels).trust
    assert trust.n_labels == len(rows)
    assert trust.always_longer_accuracy is not None
    assert trust.accuracy == pytest.approx(trust.always_longer_accuracy)
    assert any("longer answer" in w for w in trust.warnings)
    assert trust.always_first_accuracy == 1.0 and trust.always_second_accuracy == 0.0


def test_listwise_runs_report_the_first_slot_against_one_over_k(tmp_path: Path) -> None:
    judge = ScriptedJudge(lambda r: "[1] > [2] > [3] > [4]")
    with pytest.warns(JudgeTrustWarning):
        result = judgekit.compare(
            _outputs(tmp_path, prompts=6),
            judge=judge,
            db=tmp_path / "t.duckdb",
            protocol="listwise",
            k=4,
            bootstrap=50,
        )
    trust = result.trust
    assert trust.kind == "listwise"
    assert trust.first_position_rate == 1.0 and trust.first_position_expected == 0.25
    assert any("shown first" in w for w in trust.warnings)


def test_pointwise_grades_say_position_does_not_apply(tmp_path: Path) -> None:
    judge = ScriptedJudge(lambda r: "[RESULT] " + str(2 + _shown(r, "q")[-1] % 4))
    result = judgekit.grade(
        _outputs(tmp_path),
        rubric="helpfulness",
        judge=judge,
        db=tmp_path / "g.duckdb",
        bootstrap=100,
    )
    trust = result.trust
    assert trust.kind == "pointwise"
    assert trust.flip_rate is None and trust.first_position_rate is None
    assert trust.separation_test == "kruskal-wallis" and trust.p_no_difference < 1e-6
    assert trust.warnings == ()
    flat = ScriptedJudge(lambda r: "[RESULT] 3")
    with pytest.warns(JudgeTrustWarning, match="cannot tell the models apart"):
        judgekit.grade(_outputs(tmp_path), rubric="helpfulness", judge=flat, db=":memory:")
