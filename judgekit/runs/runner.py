"""Run judge requests through a judge with the store as cache and journal.

Every request is keyed by its content hash, taken before fence tags are drawn
(:func:`judgekit.protocols.fencing.seal`), so the key covers the text and the fence scheme.
Requests whose hash already has a successful call in the store are not sent again, so a
second identical run makes zero judge calls and an interrupted run resumes where it
stopped. Results are flushed to the store in small transactions (at least once a second),
so a killed run loses at most the batch in flight.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rich.progress import Progress, TaskID

from judgekit.judges.base import Judge
from judgekit.judges.batching import judged_positions
from judgekit.protocols.fencing import run_key, seal
from judgekit.store.db import CallRecord, Store
from judgekit.types import JudgeRequest, JudgeResponse

FLUSH_EVERY_S = 1.0
FLUSH_MAX_ROWS = 2000


@runtime_checkable
class StreamingJudge(Judge, Protocol):
    """A judge that answers many batches at once and hands them back as they finish.

    ``judge_stream(requests)`` yields ``(positions, responses)``: indices into ``requests``
    and their responses, every index exactly once, in any order. A distributed judge
    (:mod:`judgekit.runs.ray_exec`) keeps its replicas busy this way while the runner, the
    only writer, stores each batch as it arrives.
    """

    def judge_stream(
        self, requests: Sequence[JudgeRequest]
    ) -> Iterator[tuple[list[int], list[JudgeResponse]]]: ...


def _answers(
    judge: Judge, requests: list[JudgeRequest]
) -> Iterator[tuple[list[int], list[JudgeResponse]]]:
    """The judge's answers batch by batch: streamed when it can, else ``batch_size`` at a time."""
    if isinstance(judge, StreamingJudge):
        yield from judge.judge_stream(requests)
        return
    if hasattr(judge, "judge_batches"):
        # In-process judges form their own batches across the whole plan (by length, under
        # a token budget, sharing prefixes); other judges get fixed chunks in plan order.
        yield from judged_positions(judge, requests)
        return
    chunk = max(1, judge.batch_size)
    for offset in range(0, len(requests), chunk):
        batch = requests[offset : offset + chunk]
        try:
            responses = judge.judge(batch)
        except KeyboardInterrupt as exc:
            # An API judge's replies that came in before Ctrl-C, by position in ``requests``.
            answered = getattr(exc, "answered", None)
            if answered:
                exc.answered = {offset + i: r for i, r in answered.items()}  # type: ignore[attr-defined]
            raise
        yield list(range(offset, offset + len(batch))), responses


@dataclass(frozen=True)
class ExecutionStats:
    planned: int
    unique: int
    cached: int
    called: int
    failed: int
    seconds: float

    def __add__(self, other: ExecutionStats) -> ExecutionStats:
        return ExecutionStats(
            planned=self.planned + other.planned,
            unique=self.unique + other.unique,
            cached=self.cached + other.cached,
            called=self.called + other.called,
            failed=self.failed + other.failed,
            seconds=self.seconds + other.seconds,
        )


EMPTY_STATS = ExecutionStats(0, 0, 0, 0, 0, 0.0)


def execute(
    requests: Sequence[JudgeRequest],
    *,
    judge: Judge,
    store: Store,
    progress: Progress | None = None,
    description: str = "judging",
    task: TaskID | None = None,
) -> tuple[list[JudgeResponse], ExecutionStats]:
    """Answer ``requests`` from the store where possible and from ``judge`` otherwise.

    Args:
        progress: a progress display to advance; with ``task`` the caller owns the task
            (its total counts every request, cached ones included), else one is added.

    Returns the responses in request order (failed calls included, as data) and counts.
    """
    start = time.perf_counter()
    hashes = [r.hash_for(judge.id) for r in requests]
    unique: dict[str, JudgeRequest] = {}
    for h, r in zip(hashes, requests, strict=True):
        unique.setdefault(h, r)
    cached = store.ok_hashes(unique)
    todo = [(h, r) for h, r in unique.items() if h not in cached]

    if progress is not None:
        if task is None:
            task = progress.add_task(description, total=len(todo))
        else:
            progress.advance(task, len(requests) - len(todo))
    buffer: list[CallRecord] = []
    last_flush = time.monotonic()
    failed = 0
    # Fence tags are filled in here, after hashing: the cache key never sees them. One key per
    # run keeps them secret and lets a prompt's calls share theirs (fencing's notes).
    key = run_key()
    sent = [seal(r, key=key) for _, r in todo]
    try:
        try:
            for positions, responses in _answers(judge, sent):
                if len(responses) != len(positions):
                    raise RuntimeError(
                        f"judge {judge.id} returned {len(responses)} responses "
                        f"for {len(positions)} requests"
                    )
                for i, resp in zip(positions, responses, strict=True):
                    buffer.append(CallRecord(todo[i][0], judge.id, sent[i], resp))
                    failed += resp.status != "ok"
                if len(buffer) >= FLUSH_MAX_ROWS or time.monotonic() - last_flush >= FLUSH_EVERY_S:
                    store.write_calls(buffer)
                    buffer, last_flush = [], time.monotonic()
                if progress is not None and task is not None:
                    progress.advance(task, len(positions))
        except KeyboardInterrupt as exc:
            # API judges hand back the replies that came in before Ctrl-C or SIGTERM: they
            # were paid for, so they are stored (below) and not asked again.
            answered = getattr(exc, "answered", None) or {}
            for i, resp in sorted(answered.items()):
                buffer.append(CallRecord(todo[i][0], judge.id, sent[i], resp))
            raise
    finally:
        # Flush what came back even on Ctrl-C, so the resumed run does not redo it.
        store.write_calls(buffer)

    stored = store.load_responses(unique)
    missing = JudgeResponse(status="error", error="no response stored")
    ordered = [stored.get(h, missing) for h in hashes]
    stats = ExecutionStats(
        planned=len(requests),
        unique=len(unique),
        cached=len(cached),
        called=len(todo),
        failed=failed,
        seconds=time.perf_counter() - start,
    )
    return ordered, stats
