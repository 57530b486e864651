from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit.errors import StoreError
from judgekit.store import queries
from judgekit.store.db import CallRecord, open_store
from judgekit.store.migrations import MIGRATIONS, schema_state
from judgekit.types import JudgeRequest, JudgeResponse, Message


def _record(text: str, *, status: str = "ok", probs: dict[str, float] | None = None) -> CallRecord:
    req = JudgeRequest(messages=(Message("user", text),), choices=("A", "B", "C"))
    resp = JudgeResponse(
        text="A", choice_probs=probs, status=status, error=None if status == "ok" else "500"
    )
    return CallRecord(req.hash_for("j"), "j", req, resp)


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    open_store(path).close()
    con = duckdb.connect(str(path), read_only=True)
    names = [r[0] for r in con.execute("SELECT name FROM _judgekit_migrations").fetchall()]
    assert names == [name for name, _ in MIGRATIONS]
    assert schema_state(con) == "current"
    con.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO _judgekit_migrations VALUES ('m999_future', now())")
    con.close()
    with pytest.raises(StoreError, match="newer judgekit"):
        open_store(path)
    with pytest.raises(StoreError, match="newer judgekit"):
        open_store(path, read_only=True)


def test_missing_store_read_only_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store"):
        open_store(tmp_path / "none.duckdb", read_only=True)


def test_calls_round_trip_and_failed_calls_are_retried(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    ok, bad = _record("one", probs={"A": 0.5, "B": 0.25, "C": 0.25}), _record("two", status="error")
    store.write_calls([ok, bad])
    assert store.ok_hashes([ok.request_hash, bad.request_hash, "v1:none"]) == {ok.request_hash}
    loaded = store.load_responses([ok.request_hash, bad.request_hash])
    assert loaded[ok.request_hash].choice_probs == {"A": 0.5, "B": 0.25, "C": 0.25}
    assert loaded[bad.request_hash].status == "error"
    retried = CallRecord(bad.request_hash, "j", bad.request, JudgeResponse(text="B"))
    store.write_calls([retried])
    calls = queries.judge_calls(store).set_index("request_hash")
    assert len(calls) == 2
    assert calls.loc[bad.request_hash, "attempts"] == 2
    assert calls.loc[bad.request_hash, "status"] == "ok"


def test_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    store.create_run(kind="compare", config={}, run_id="r1")
    with pytest.raises(RuntimeError):
        with store.transaction() as con:
            con.execute("DELETE FROM runs")
            raise RuntimeError("boom")
    assert list(queries.runs(store)["run_id"]) == ["r1"]


def test_second_writer_is_refused_and_readers_see_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    other = open_store(tmp_path / "s.duckdb")
    with store.writer_lock():
        assert other.is_writing()
        with pytest.raises(StoreError, match="another judgekit run is writing"):
            with other.writer_lock():
                pass
    assert not other.is_writing()


def test_ratings_and_leaderboard_query(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    run = store.create_run(kind="compare", config={"x": 1}, run_id="r1")
    board = pd.DataFrame(
        {
            "rank": [1, 2],
            "model": ["a", "b"],
            "rating": [1050.0, 950.0],
            "ci_low": [1000, 900],
            "ci_high": [1100, 1000],
            "win_rate": [0.7, 0.3],
            "n": [10, 10],
        }
    )
    store.write_ratings(run_id=run, method="bt", frame=board)
    store.finish_run(run, stats={"comparisons": 10})
    reader = open_store(tmp_path / "s.duckdb", read_only=True)
    assert queries.latest_run_id(reader) == "r1"
    got = queries.leaderboard(reader, run_id="r1")
    assert list(got["model"]) == ["a", "b"]
    assert queries.runs(reader).iloc[0]["stats"] == {"comparisons": 10}


@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=5, unique=True),
    probs=st.dictionaries(st.sampled_from("ABC"), st.floats(0, 1), min_size=1),
)
def test_hypothesis_call_round_trip(texts: list[str], probs: dict[str, float]) -> None:
    with open_store(":memory:") as store:
        records = [_record(t, probs=probs) for t in texts]
        store.write_calls(records)
        loaded = store.load_responses([r.request_hash for r in records])
        assert {h: r.choice_probs for h, r in loaded.items()} == {
            r.request_hash: probs for r in records
        }
