"""Run judge requests through a judge with the store as cache and journal.

Every request is keyed by its content hash. Requests whose hash already has a successful
call in the store are not sent again, so a second identical run makes zero judge calls and
an interrupted run resumes where it stopped. Results are flushed to the store in small
transactions (at least once a second), so a killed run loses at most the batch in flight.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.progress import Progress, TaskID

from judgekit.judges.base import Judge
from judgekit.judges.batching import judged_batches
from judgekit.store.db import CallRecord, Store
from judgekit.types import JudgeRequest, JudgeResponse

FLUSH_EVERY_S = 1.0
FLUSH_MAX_ROWS = 2000


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
    try:
        # In-process judges form their own batches across the whole plan (by length, under
        # a token budget, sharing prefixes); other judges get fixed chunks in plan order.
        for batch, responses in judged_batches(judge, todo):
            for (h, r), resp in zip(batch, responses, strict=True):
                buffer.append(CallRecord(h, judge.id, r, resp))
                failed += resp.status != "ok"
            if len(buffer) >= FLUSH_MAX_ROWS or time.monotonic() - last_flush >= FLUSH_EVERY_S:
                store.write_calls(buffer)
                buffer, last_flush = [], time.monotonic()
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
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
