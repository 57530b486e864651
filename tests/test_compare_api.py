from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

import judgekit
from judgekit.errors import ConfigError, InputError
from judgekit.judges.fakes import FixedJudge, HashJudge, ScriptedJudge
from judgekit.types import JudgeRequest, JudgeResponse
from tests.conftest import write_jsonl


class Interrupting:
    """Wraps a judge and raises KeyboardInterrupt on its ``fail_on``-th batch."""

    def __init__(self, inner: HashJudge, *, fail_on: int) -> None:
        self.inner, self.fail_on, self.batches = inner, fail_on, 0
        self.id, self.supports_logprobs, self.batch_size = inner.id, True, 2

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        self.batches += 1
        if self.batches == self.fail_on:
            raise KeyboardInterrupt
        return self.inner.judge(requests)


def _count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


def test_compare_stores_everything_and_returns_frames(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    judge = HashJudge()
    result = judgekit.compare(arena_files, judge=judge, db=db, bootstrap=50)
    assert list(result.leaderboard.columns[:7]) == [
        "rank",
        "model",
        "rating",
        "ci_low",
        "ci_high",
        "win_rate",
        "n",
    ]
    assert set(result.leaderboard["model"]) == {"good", "okay", "bad"}
    assert len(result.outcomes) == 9  # 3 prompts x 3 pairs
    assert len(result.verdicts) == 18 and len(judge.calls) == 18
    assert result.stats["judge_calls_made"] == 18
    assert (result.leaderboard["n"] == 6).all()
    for table, n in {"judge_calls": 18, "verdicts": 18, "outcomes": 9, "ratings": 3}.items():
        assert _count(db, table) == n
    assert _count(db, "items") == 3 and _count(db, "candidates") == 9


def test_second_identical_run_makes_zero_judge_calls(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    first = judgekit.compare(arena_files, judge=HashJudge(), db=db, bootstrap=20)
    judge = HashJudge()
    second = judgekit.compare(arena_files, judge=judge, db=db, bootstrap=20)
    assert judge.calls == [] and second.stats["judge_calls_made"] == 0
    assert second.stats["judge_calls_cached"] == 18
    assert second.run_id == first.run_id
    assert second.leaderboard.equals(first.leaderboard)
    assert _count(db, "runs") == 1 and _count(db, "outcomes") == 9


def test_interrupted_run_resumes_where_it_stopped(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    with pytest.raises(KeyboardInterrupt):
        judgekit.compare(arena_files, judge=Interrupting(HashJudge(), fail_on=4), db=db)
    assert _count(db, "judge_calls") == 6  # three batches of two were stored
    resumed = HashJudge()
    result = judgekit.compare(arena_files, judge=resumed, db=db, bootstrap=20)
    assert len(resumed.calls) == 12 and result.stats["judge_calls_cached"] == 6
    uninterrupted = judgekit.compare(
        arena_files, judge=HashJudge(), db=tmp_path / "fresh.duckdb", bootstrap=20
    )
    assert result.leaderboard.equals(uninterrupted.leaderboard)


@pytest.mark.parametrize("logprobs", [True, False])
def test_always_a_judge_debiases_to_a_tie_for_every_pair(
    arena_files: list[Path], tmp_path: Path, logprobs: bool
) -> None:
    judge = FixedJudge("A", supports_logprobs=logprobs)
    result = judgekit.compare(arena_files, judge=judge, db=tmp_path / "j.duckdb", bootstrap=20)
    outcomes = result.outcomes
    assert (outcomes["status"] == "ok").all()
    assert ((outcomes["win_a"] + 0.5 * outcomes["tie"]) == 0.5).all()
    assert outcomes["flipped"].all() and result.stats["flip_rate"] == 1.0
    assert result.leaderboard["rating"].round(6).nunique() == 1
    assert (result.leaderboard["win_rate"] == 0.5).all()


def test_generate_mode_parses_text_and_stores_parse_failures(
    arena_files: list[Path], tmp_path: Path
) -> None:
    def script(request: JudgeRequest) -> str:
        text = request.messages[0].content
        first = text.split("<<<BEGIN RESPONSE A")[1].split("<<<END RESPONSE A")[0]
        if "I don't know" in first and "Paris." in text:
            return "unclear"  # one unparseable verdict per affected order
        return "[[B]]" if "I don't know" in first else "[[A]]"

    judge = ScriptedJudge(script)
    result = judgekit.compare(arena_files, judge=judge, db=tmp_path / "j.duckdb", bootstrap=0)
    assert result.stats["parse_failures"] == 2
    failed = result.verdicts[result.verdicts["status"] == "parse_error"]
    assert set(failed["raw"]) == {"unclear"}
    assert (result.outcomes["status"] == "parse_error").sum() == 2
    top = result.leaderboard.iloc[-1]
    assert top["model"] == "bad" and top["ci_low"] != top["ci_low"]  # no CI without bootstrap


def test_bad_input_fails_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    path = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "Q", "model": "m"}])
    with pytest.raises(InputError, match="missing column"):
        judgekit.compare([path], judge=HashJudge(), db=db)
    assert not db.exists()


def test_unknown_judge_and_bad_schedule_write_nothing(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    with pytest.raises(ConfigError, match="unknown judge provider 'nope'"):
        judgekit.compare(arena_files, judge="nope/x", db=db)
    with pytest.raises(ConfigError, match="baseline model 'zzz'"):
        judgekit.compare(arena_files, judge=HashJudge(), db=db, schedule="baseline:zzz")
    assert not db.exists()


def test_baseline_schedule_compares_only_against_baseline(
    arena_files: list[Path], tmp_path: Path
) -> None:
    result = judgekit.compare(
        arena_files, judge=HashJudge(), db=":memory:", schedule="baseline:okay", bootstrap=0
    )
    assert len(result.outcomes) == 6
    assert result.outcomes.apply(lambda r: "okay" in (r.model_a, r.model_b), axis=1).all()


def test_rubric_criteria_go_into_the_pairwise_prompt(
    arena_files: list[Path], tmp_path: Path
) -> None:
    from judgekit.protocols.pointwise import criteria_text
    from judgekit.rubrics import load_rubric

    judge = HashJudge()
    judgekit.compare(arena_files, judge=judge, db=":memory:", bootstrap=0, rubric="conciseness")
    expected = criteria_text(load_rubric("conciseness"))
    assert expected and all(expected in r.messages[0].content for r in judge.calls)
