"""The event loop that the API judges' synchronous ``judge()`` calls run on.

API judges keep their HTTP clients, and so their keep-alive connections and TLS sessions,
from one ``judge()`` call to the next; those clients belong to one loop, which must outlive
the calls. litellm also caches clients process-wide. Running the loop on a dedicated thread
also makes ``judge()`` work where a loop is already running (Jupyter, async apps).

The loop is stopped at interpreter exit, before Python tears its modules down. A daemon thread
left running at that point is frozen wherever it stands, which can be in the middle of an
import (litellm imports lazily from the callbacks it runs after each completion); a finalizer
that then imports on the main thread waits forever for that import's lock.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

# How long the exit hook waits for the closers and for the loop thread to end.
CLOSE_TIMEOUT_S = 10.0


class EventLoopThread:
    """An asyncio loop on a daemon thread; ``run`` blocks the caller until a coroutine ends."""

    def __init__(self, *, name: str) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        # Coroutine factories run on the loop by close(), e.g. litellm's client cleanup.
        self._closers: list[Callable[[], Awaitable[object]]] = []

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("judge() cannot be called from inside judgekit's own event loop")
        if not self.running:
            coroutine.close()
            raise RuntimeError("judgekit's API-judge event loop has been closed")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C in the caller: stop the requests in flight
            raise

    def on_close(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Have ``close()`` await ``closer()`` on the loop, once, before stopping it."""
        if closer not in self._closers:
            self._closers.append(closer)

    def close(self, *, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Run the closers, cancel what is left on the loop, stop it and join its thread."""
        if not self.running or self.pid != os.getpid():
            return
        future = asyncio.run_coroutine_threadsafe(self._wind_down(), self.loop)
        try:
            future.result(timeout_s)
        except Exception as exc:  # a closer that fails or hangs must not block the exit
            future.cancel()
            logger.debug("closing the API-judge loop: %r", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.loop.close()

    async def _wind_down(self) -> None:
        for closer in self._closers:
            try:
                await closer()
            except Exception as exc:  # noqa: BLE001 - one library's cleanup must not stop the rest
                logger.debug("API-judge closer %r failed: %r", closer, exc)
        # Background tasks (litellm's logging worker) wait forever; they end with the loop.
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


_shared: EventLoopThread | None = None
_shared_lock = threading.Lock()


def shared_loop() -> EventLoopThread:
    """The process's API-judge loop, started on first use and again after a fork (a forked
    child has the loop object but not the thread that ran it) or after ``close_shared_loop``."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.pid != os.getpid() or not _shared.running:
            _shared = EventLoopThread(name="judgekit-api-judges")
            # Registered per loop, so that it runs before the exit hooks of libraries
            # imported earlier (atexit runs the last registered first).
            atexit.register(close_shared_loop)
        return _shared


def close_shared_loop() -> None:
    """Stop the process's API-judge loop, if it runs; the next ``shared_loop()`` starts anew."""
    with _shared_lock:
        shared = _shared
    if shared is not None:
        shared.close()
