"""Fast checks of what distributed judging builds on, with no cluster: a streaming judge
through the runner, and one concurrency gate shared by many API batches."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pytest

from judgekit.judges.api_common import Backoff, run_batch
from judgekit.judges.fakes import HashJudge, fake_judge
from judgekit.runs.runner import StreamingJudge, execute
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse, Message


def requests(n: int) -> list[JudgeRequest]:
    return [
        JudgeRequest(messages=(Message("user", f"q{i}"),), choices=("A", "B")) for i in range(n)
    ]


class ReversedStream:
    """Answers like ``HashJudge`` but hands batches back last first, as a cluster may."""

    def __init__(self, batch: int) -> None:
        self.inner = HashJudge()
        self.id = self.inner.id
        self.supports_logprobs = True
        self.batch_size = batch
        self.streamed = 0

    def judge(self, reqs: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        return self.inner.judge(reqs)

    def judge_stream(
        self, reqs: Sequence[JudgeRequest]
    ) -> Iterator[tuple[list[int], list[JudgeResponse]]]:
        starts = list(range(0, len(reqs), self.batch_size))
        for start in reversed(starts):
            positions = list(range(start, min(start + self.batch_size, len(reqs))))
            self.streamed += len(positions)
            yield positions, self.inner.judge([reqs[i] for i in positions])


def stored(path: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT request_hash, judge_id, messages, params, text, choice_probs, status, "
            "attempts FROM judge_calls ORDER BY request_hash"
        ).fetchall()


def test_streamed_batches_in_any_order_store_the_rows_of_a_serial_run(tmp_path: Path) -> None:
    reqs = requests(23)
    reqs = reqs + reqs[:5]  # duplicates are judged once
    streaming = ReversedStream(batch=4)
    assert isinstance(streaming, StreamingJudge)
    assert not isinstance(HashJudge(), StreamingJudge)
    with open_store(tmp_path / "stream.duckdb") as store:
        got, stats = execute(reqs, judge=streaming, store=store)
    with open_store(tmp_path / "serial.duckdb") as store:
        want, _ = execute(reqs, judge=HashJudge(), store=store)
    assert got == want  # responses come back in request order whatever the stream's order
    assert (stats.called, stats.unique, streaming.streamed) == (23, 23, 23)
    assert stored(tmp_path / "stream.duckdb") == stored(tmp_path / "serial.duckdb")
    # A re-run answers everything from the store and streams nothing.
    again = ReversedStream(batch=4)
    with open_store(tmp_path / "stream.duckdb") as store:
        _, stats = execute(reqs, judge=again, store=store)
    assert (stats.cached, stats.called, again.streamed) == (23, 0, 0)


def test_a_stream_that_drops_responses_is_an_error(tmp_path: Path) -> None:
    class Short(ReversedStream):
        def judge_stream(
            self, reqs: Sequence[JudgeRequest]
        ) -> Iterator[tuple[list[int], list[JudgeResponse]]]:
            yield [0, 1], self.inner.judge([reqs[0]])

    with open_store(tmp_path / "s.duckdb") as store, pytest.raises(RuntimeError, match="1 resp"):
        execute(requests(3), judge=Short(batch=2), store=store)


def test_slow_fake_judge_sleeps_per_request_and_keeps_hash_verdicts() -> None:
    import time

    slow = fake_judge("slow-hash-20ms")
    assert slow.id == "fake/slow-hash-20ms"
    start = time.perf_counter()
    out = slow.judge(requests(5))
    assert time.perf_counter() - start >= 0.1
    assert out == HashJudge(judge_id="fake/slow-hash-20ms").judge(requests(5))


def test_one_gate_bounds_attempts_across_concurrent_batches() -> None:
    """Three batches (three workers) at concurrency 4 each, under one gate of 2 permits."""
    in_flight = peak = 0
    permits = asyncio.Semaphore(2)

    class Gate:
        async def __aenter__(self) -> None:
            await permits.acquire()

        async def __aexit__(self, *exc: object) -> None:
            permits.release()

    async def call(request: JudgeRequest) -> JudgeResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return JudgeResponse(text=request.messages[0].content)

    async def main() -> list[list[JudgeResponse]]:
        batches = [requests(6) for _ in range(3)]
        return await asyncio.gather(
            *(
                run_batch(
                    b, call, concurrency=4, max_retries=0, backoff=Backoff(), key_env="X", gate=Gate
                )
                for b in batches
            )
        )

    results = asyncio.run(main())
    assert peak == 2
    assert [[r.text for r in batch] for batch in results] == [[f"q{i}" for i in range(6)]] * 3


def test_a_bad_ray_address_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from click.testing import CliRunner

    from judgekit.cli import cli

    db = tmp_path / "s.duckdb"
    for command in (["compare", "a.jsonl"], ["grade", "a.jsonl", "--rubric", "x"], ["meta"]):
        result = CliRunner().invoke(cli, [*command, "--ray=a.jsonl", "--db", str(db)])
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--ray'" in result.output
        assert "is not a Ray address" in result.output
    assert not db.exists()
    from judgekit.runs.ray_exec import RayOptions

    for good in ("auto", "local", "ray://head:10001", "10.0.0.7:6379"):
        assert RayOptions(address=good).address == good
