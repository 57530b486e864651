"""The API judges' event-loop thread: it runs coroutines for synchronous callers and stops
cleanly, running its closers on the loop, so that no thread is left running at interpreter exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from judgekit.judges import event_loop
from judgekit.judges.event_loop import EventLoopThread


def test_run_returns_the_coroutine_result_from_the_loop_thread() -> None:
    loop = EventLoopThread(name="test-loop")
    try:

        async def where() -> str:
            return threading.current_thread().name

        assert loop.run(where()) == "test-loop"
    finally:
        loop.close()


def test_close_runs_closers_cancels_background_tasks_and_joins_the_thread() -> None:
    loop = EventLoopThread(name="test-loop")
    seen: list[str] = []
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def start_background() -> None:
        asyncio.get_running_loop().create_task(forever())

    async def failing_closer() -> None:
        seen.append("failing")
        raise RuntimeError("cleanup went wrong")

    async def closer() -> None:
        seen.append(threading.current_thread().name)

    loop.run(start_background())
    loop.on_close(failing_closer)
    loop.on_close(closer)
    loop.on_close(closer)  # registered once
    loop.close()

    assert seen == ["failing", "test-loop"]
    assert cancelled.is_set()
    assert not loop.running
    assert loop.loop.is_closed()
    coroutine = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="has been closed"):
        loop.run(coroutine)


def test_a_hanging_closer_does_not_hold_up_the_exit() -> None:
    loop = EventLoopThread(name="test-loop")

    async def hangs() -> None:
        await asyncio.Event().wait()

    loop.on_close(hangs)
    start = time.perf_counter()
    loop.close(timeout_s=0.3)
    assert time.perf_counter() - start < 5
    assert not loop.running


def test_shared_loop_starts_again_after_it_was_closed() -> None:
    first = event_loop.shared_loop()
    event_loop.close_shared_loop()
    assert not first.running
    second = event_loop.shared_loop()
    assert second is not first
    assert second.running

    async def answer() -> int:
        return 42

    assert second.run(answer()) == 42


def test_the_exit_hook_stops_the_loop_before_the_interpreter_tears_down() -> None:
    """A process that leaves work on the loop exits at once, and its closer ran."""
    script = textwrap.dedent(
        """
        import asyncio
        from judgekit.judges.event_loop import shared_loop

        async def closer():
            print("closed", flush=True)

        async def leave_a_task():
            asyncio.get_running_loop().create_task(asyncio.sleep(3600))

        loop = shared_loop()
        loop.on_close(closer)
        loop.run(leave_a_task())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed"
    assert "Task was destroyed but it is pending" not in done.stderr
