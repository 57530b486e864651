"""What a run leaves on record: why every call failed (grouped, with the server and a next
step), a failed run marked so and retried by a re-run, and one stats row per execution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from servers.openai_stub import StubServer, serve_in_thread

import judgekit
from judgekit.cli import cli
from judgekit.errors import JudgeError
from judgekit.judges.fakes import HashJudge, ScriptedJudge
from judgekit.runs.failures import failure_cause, summarize_failures
from judgekit.store.db import open_store
from judgekit.types import JudgeResponse

CORPUS = Path(__file__).parent / "fixtures" / "bad_inputs" / "outputs"
OUTPUTS = [str(CORPUS / "good_a.jsonl"), str(CORPUS / "good_b.jsonl")]  # 3 pairs, 6 calls


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_stub(stub: StubServer) -> None:
    stub.reset()


def _compare(stub: StubServer, db: Path, *extra: str) -> object:
    argv = [
        "compare", *OUTPUTS, "--judge", "openai/stub-judge", "--base-url", stub.base_url,
        "--api-key-env", "JUDGEKIT_TEST_KEY", "--db", str(db), "--no-progress",
        "--bootstrap", "0", "--max-retries", "1", *extra,
    ]  # fmt: skip
    return CliRunner().invoke(cli, argv)


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_when_every_call_fails_the_error_says_why_and_a_rerun_retries(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_TEST_KEY", "sk-judgekit-wrong-key-0123456789")
    db = tmp_path / "j.duckdb"
    stub.configure(fault_rate=1.0, fault_kinds=["401"])
    failed = _compare(stub, db)
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    text = " ".join(failed.output.split())
    assert "6 of 6 judge calls to openai/stub-judge failed" in text
    assert "6 x HTTP 401 Unauthorized (Incorrect API key provided" in text
    assert f"from {stub.base_url}" in text
    assert "check --api-key-env (the key is read from JUDGEKIT_TEST_KEY)" in text
    assert "sk-judgekit-wrong-key" not in text
    assert _query(db, "SELECT status FROM runs") == [("failed",)]
    assert _query(db, "SELECT status, count(*) FROM judge_calls GROUP BY status") == [("error", 6)]

    stub.reset()  # the key problem is fixed
    fixed = _compare(stub, db, "--json")
    assert fixed.exit_code == 0, fixed.output
    stats = json.loads(fixed.output)["stats"]
    assert stats["judge_calls_made"] == 6 and stats["judge_calls_failed"] == 0
    assert _query(db, "SELECT status FROM runs") == [("finished",)]
    assert _query(db, "SELECT DISTINCT status FROM judge_calls") == [("ok",)]


def test_failures_are_grouped_by_cause_largest_first() -> None:
    class Judge:
        id = "openai/m"
        options = type("O", (), {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"})()

    errors = (
        ["server_error: HTTP 503: Error code: 503 - Service Unavailable (gave up after 3 attempts)"]
        * 2
        + ["timeout: Request timed out. (gave up after 3 attempts)"] * 5
        + ["http_error: HTTP 404: Error code: 404 - {'error': {'message': 'no such model'}}"]
    )
    line = summarize_failures(errors, calls=10, judge=Judge())
    assert line.startswith("8 of 10 judge calls to openai/m failed: 5 x timeout")
    assert line.index("5 x timeout") < line.index("2 x HTTP 503") < line.index("1 x HTTP 404")
    assert "raise --timeout" in line and "(no such model)" in line
    assert failure_cause("rate_limited: slow down")[0] == "HTTP 429 Too Many Requests"


def test_each_execution_keeps_its_own_stats_row(tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    first = judgekit.compare(OUTPUTS, judge=HashJudge(), db=db, bootstrap=0)
    second = judgekit.compare(OUTPUTS, judge=HashJudge(), db=db, bootstrap=0)
    assert first.run_id == second.run_id  # the same run, executed twice
    rows = _query(
        db,
        "SELECT execution, status, calls_planned, calls_made, calls_cached, calls_failed, "
        "wall_s FROM run_executions ORDER BY execution",
    )
    assert [r[:6] for r in rows] == [(1, "finished", 6, 6, 0, 0), (2, "finished", 6, 0, 6, 0)]
    assert all(r[6] is not None and r[6] >= 0 for r in rows)
    # runs.stats holds the latest execution; the first one's figures are not lost.
    latest = json.loads(_query(db, "SELECT stats FROM runs")[0][0])  # type: ignore[arg-type]
    assert latest["judge_calls_made"] == 0
    with open_store(db) as store:
        frame = store.run_executions(first.run_id)
    assert list(frame["calls_made"]) == [6, 0]
    assert json.loads(frame["stats"][0])["judge_calls_made"] == 6


@pytest.mark.parametrize(
    "overrides",
    [{"schedule": "all-pairs"}, {"schedule": "adaptive:3"}, {"protocol": "listwise"}],
    ids=["all-pairs", "adaptive", "listwise"],
)
def test_a_run_with_no_usable_verdict_is_marked_failed(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    def refuse(request: object) -> JudgeResponse:
        return JudgeResponse(status="error", error="http_error: HTTP 403: Error code: 403 - no")

    db = tmp_path / "j.duckdb"
    judge = ScriptedJudge(refuse, supports_logprobs=True, judge_id="fake/refusing")
    expected = r"6 of 6 judge calls to fake/refusing failed: 6 x HTTP 403"
    with pytest.raises(JudgeError, match=expected):
        judgekit.compare(OUTPUTS, judge=judge, db=db, bootstrap=0, **overrides)
    assert _query(db, "SELECT status FROM runs") == [("failed",)]
    assert _query(db, "SELECT count(*) FROM judge_calls WHERE status = 'error'") == [(6,)]
    assert _query(db, "SELECT status FROM run_executions") == [("failed",)]
