"""The event loop that runs every aiokafka client of a process.

aiokafka does its I/O in tasks on an asyncio loop: the consumer fetches the
next records while the flow is still processing the previous batch, and the
producer's sender ships batches in the background. Bytewax calls a source's
`next_batch` on its worker thread and wants it not to block. `BackgroundLoop`
therefore runs one loop per process on a daemon thread, all the time; worker
threads hand it coroutines with `call` and wait for the result, which costs a
thread hop (tens of microseconds) per batch of about a thousand records.

`InlineLoop` is the alternative it was measured against: a loop per worker
thread, driven with `run_until_complete` inside each call, so that aiokafka
only runs while a call lasts and prefetches nothing between batches. See the
README's Kafka section for the figures (`bench/kafka.py --compare-loops`).

Clients must be created inside a coroutine passed to `call` (aiokafka binds
them to the running loop). The loop stops when its last user releases it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, Literal, Protocol, TypeVar

from pulse.errors import ConnectorError

__all__ = ["BackgroundLoop", "InlineLoop", "LoopKind", "LoopRunner", "acquire_loop"]

T = TypeVar("T")
LoopKind = Literal["thread", "inline"]


class LoopRunner(Protocol):
    """Runs coroutines for a synchronous caller; `release` once per `acquire`."""

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` to completion and return its result (or raise its exception)."""
        ...

    def release(self) -> None:
        """Give the loop back; the last release stops it."""
        ...


def acquire_loop(kind: LoopKind = "thread") -> LoopRunner:
    """The process's background loop (`thread`), or this thread's inline loop."""
    return BackgroundLoop.acquire() if kind == "thread" else InlineLoop.acquire()


class BackgroundLoop:
    """One event loop on a daemon thread, shared by every Kafka client of the process."""

    _lock = threading.Lock()
    _shared: BackgroundLoop | None = None

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._users = 0
        self._thread = threading.Thread(target=self._run, name="pulse-kafka-loop", daemon=True)
        self._thread.start()

    @classmethod
    def acquire(cls) -> BackgroundLoop:
        """The shared loop, started on first use."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            cls._shared._users += 1
            return cls._shared

    def release(self) -> None:
        """Drop one user; the last one stops the loop and joins its thread."""
        with BackgroundLoop._lock:
            self._users -= 1
            if self._users > 0:
                return
            if BackgroundLoop._shared is self:
                BackgroundLoop._shared = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` on the loop thread and wait for it; a timeout cancels it."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BackgroundLoop.call from the loop thread would deadlock")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise ConnectorError(f"Kafka call took longer than {timeout_s}s") from exc

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            _close(self._loop)


class InlineLoop:
    """A loop per thread, run only while `call` runs (`run_until_complete`)."""

    _local = threading.local()

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._users = 0

    @classmethod
    def acquire(cls) -> InlineLoop:
        """This thread's loop, created on first use."""
        runner: InlineLoop | None = getattr(cls._local, "runner", None)
        if runner is None:
            runner = cls._local.runner = cls()
        runner._users += 1
        return runner

    def release(self) -> None:
        """Drop one user; the last one closes the loop."""
        self._users -= 1
        if self._users == 0:
            InlineLoop._local.runner = None
            _close(self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` to completion on this thread's loop."""
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout_s))
        except TimeoutError as exc:
            raise ConnectorError(f"Kafka call took longer than {timeout_s}s") from exc


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a stopped loop, then close it (no unclosed-loop warnings)."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
