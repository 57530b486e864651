"""Judge panels: pooling rules, Krippendorff's α across judges, repeats, storage and ranking."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from judgekit.errors import ConfigError
from judgekit.judges.fakes import FixedJudge, HashJudge, ScriptedJudge
from judgekit.quality.report import judge_report
from judgekit.runs.panel import (
    SampledJudge,
    compare_panel,
    panel_alpha,
    panel_members,
    pool_outcomes,
)
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse
from tests.test_meta_report import always_longer


def _members(votes: dict[str, list[tuple[float, float, float]]]) -> pd.DataFrame:
    """Member outcomes: one judge per key, one comparison (p1..pN) per tuple."""
    rows = []
    for judge, outcomes in votes.items():
        for k, (win_a, win_b, tie) in enumerate(outcomes, start=1):
            rows.append(
                {
                    "member": judge,
                    "judge_id": judge,
                    "sample": 1,
                    "prompt_id": f"p{k}",
                    "model_a": "x",
                    "model_b": "y",
                    "win_a": win_a,
                    "win_b": win_b,
                    "tie": tie,
                    "flipped": False,
                    "status": "ok",
                }
            )
    return pd.DataFrame(rows)


A, B, T = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def test_majority_vote_pools_labels_and_draws_are_ties() -> None:
    members = _members({"j1": [A, A, A, A], "j2": [A, B, T, B], "j3": [B, B, B, T]})
    pooled = pool_outcomes(members, rule="majority").set_index("prompt_id")
    # p1: a a b -> a; p2: a b b -> b; p3: a tie b -> draw -> tie; p4: a b tie -> tie.
    assert list(pooled["win_a"]) == [1.0, 0.0, 0.0, 0.0]
    assert list(pooled["win_b"]) == [0.0, 1.0, 0.0, 0.0]
    assert list(pooled["tie"]) == [0.0, 0.0, 1.0, 1.0]


def test_mean_pooling_averages_probabilities_and_skips_failures() -> None:
    members = _members({"j1": [(0.8, 0.2, 0.0)], "j2": [(0.2, 0.4, 0.4)], "j3": [A]})
    members.loc[members["member"] == "j3", "status"] = "parse_error"
    pooled = pool_outcomes(members, rule="mean").iloc[0]
    assert (pooled["win_a"], pooled["win_b"], pooled["tie"]) == pytest.approx((0.5, 0.3, 0.2))
    all_failed = members.assign(status="judge_error")
    failed = pool_outcomes(all_failed).iloc[0]
    assert failed["status"] == "judge_error" and failed["win_a"] == 0.0
    with pytest.raises(ConfigError, match="pooling rule"):
        pool_outcomes(members, rule="median")  # type: ignore[arg-type]


def test_panel_alpha_by_hand() -> None:
    # Labels per comparison: (a,a), (a,b), (b,b), (b,b): alpha = 8/15 (see test_meta).
    members = _members({"j1": [A, A, B, B], "j2": [A, B, B, B]})
    assert panel_alpha(members) == pytest.approx(8 / 15)
    assert pd.isna(panel_alpha(members[members["judge_id"] == "j1"]))


def test_panel_members_and_samples() -> None:
    hash_judge = HashJudge()
    members = panel_members([hash_judge], repeats=2)
    assert [m.member for m in members] == ["fake/hash", "fake/hash#2"]
    assert isinstance(members[1].judge, SampledJudge) and members[1].sample == 2
    with pytest.raises(ConfigError, match="two judges"):
        panel_members([hash_judge])
    with pytest.raises(ConfigError, match="listed twice"):
        panel_members([hash_judge, HashJudge()])


def _count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def test_compare_panel_stores_members_pools_and_ranks(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "panel.duckdb"
    longer = ScriptedJudge(always_longer, judge_id="scripted/longer")
    result = compare_panel(
        arena_files, judges=[longer, FixedJudge("A")], db=db, pool="majority", bootstrap=0
    )
    assert set(result.leaderboard["model"]) == {"good", "okay", "bad"}
    assert len(result.outcomes) == 9 and len(result.verdicts) == 18  # 9 comparisons x 2 members
    members = result.verdicts
    assert set(members["member"]) == {"scripted/longer", "fake/always-a"}
    stats = result.stats
    assert stats["members"]["fake/always-a"]["flip_rate"] == 1.0
    assert stats["members"]["scripted/longer"]["flip_rate"] == 0.0
    assert stats["krippendorff_alpha"] == pytest.approx(panel_alpha(members))
    # One judge says tie, the other decides: a majority of two is a draw, so all are ties.
    assert (result.outcomes["tie"] == 1.0).all()
    for table, n in {"panel_verdicts": 36, "panel_outcomes": 18, "outcomes": 9}.items():
        assert _count(db, f"SELECT count(*) FROM {table}") == n
    with open_store(db) as store:
        report = judge_report(store, run_id=result.run_id)
    values = report.metrics.set_index("metric")["value"]
    assert values["position flip rate"] == 0.5  # over the members' outcomes
    assert values["inter-judge alpha"] == pytest.approx(stats["krippendorff_alpha"])


def noisy_judge(seed: int = 0) -> ScriptedJudge:
    """Logprob verdicts drawn at random: the same request gets a different answer each call."""
    rng = np.random.default_rng(seed)

    def reply(request: JudgeRequest) -> JudgeResponse:
        p_a = float(rng.uniform())
        return JudgeResponse(text="A", choice_probs={"A": p_a, "B": 1 - p_a, "C": 0.0})

    return ScriptedJudge(reply, supports_logprobs=True, judge_id="scripted/noisy")


def test_panel_repeats_measure_repeat_variance(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "panel.duckdb"
    judge = noisy_judge()
    result = compare_panel(arena_files, judges=[judge], repeats=2, db=db, bootstrap=0)
    # The second sample hashes apart, so it is its own set of calls.
    assert len(judge.calls) == 36 and result.stats["judge_calls_made"] == 36
    with open_store(db) as store:
        report = judge_report(store, run_id=result.run_id)
    values = report.metrics.set_index("metric")
    assert values.loc["repeat variance", "n"] == 9 and values.loc["repeat variance", "value"] > 0
    assert "inter-judge alpha" not in values.index  # one judge: no agreement across judges
    # A second identical panel run is served from the cache.
    again = compare_panel(arena_files, judges=[noisy_judge(1)], repeats=2, db=db, bootstrap=0)
    assert again.stats["judge_calls_made"] == 0 and again.run_id == result.run_id
    pd.testing.assert_frame_equal(again.outcomes, result.outcomes)


def test_a_deterministic_judge_sampled_twice_has_no_repeat_variance(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "panel.duckdb"
    result = compare_panel(arena_files, judges=[HashJudge()], repeats=2, db=db, bootstrap=0)
    with open_store(db) as store:
        values = judge_report(store, run_id=result.run_id).metrics.set_index("metric")["value"]
    assert values["repeat variance"] == 0.0 and values["repeat agreement"] == 1.0


def test_a_panel_judges_by_the_rubrics_criteria(arena_files: list[Path], tmp_path: Path) -> None:
    first, second = HashJudge(), HashJudge()
    second.id = "fake/hash-2"
    compare_panel(
        arena_files, judges=[first, second], db=tmp_path / "p.duckdb", bootstrap=0,
        rubric="conciseness",
    )  # fmt: skip
    asked = {r.messages[0].content for r in first.calls + second.calls}
    assert asked and all("as short as it can be" in text for text in asked)
