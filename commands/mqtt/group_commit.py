"""Group commit: publishes from every MQTT connection of a process share one transaction.

A QoS 1 PUBACK waits for durable storage (SPEC §7); writing each message in its own
transaction would cap a process at a few thousand messages per second. Instead submissions
queue here and one writer thread stores whatever has gathered while the previous batch was
being written, so batches grow with load and latency stays one round trip at low load.
Batches complete in submission order, so each connection's acks stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from data.services import PointResult, Submission, points_write_many
from plugboard.live import bind_event_loop

log = logging.getLogger(__name__)

MAX_BATCH_SUBMISSIONS = 5_000


class GroupCommit:
    def __init__(self) -> None:
        self._queue: list[tuple[Submission, str, asyncio.Future[list[PointResult]]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One thread, one database connection, kept open between batches.
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="mqtt-group-commit",
            initializer=bind_event_loop,
            initargs=(asyncio.get_running_loop(),),
        )

    def submit(self, submission: Submission, source: str) -> asyncio.Future[list[PointResult]]:
        """Queue one caller's points; the future resolves once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[PointResult]] = loop.create_future()
        self._queue.append((submission, source, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[:MAX_BATCH_SUBMISSIONS]
                del self._queue[:MAX_BATCH_SUBMISSIONS]
                try:
                    results = await loop.run_in_executor(self._executor, _write, batch)
                except Exception as exc:  # the whole batch failed: every caller learns it
                    log.exception("group commit failed")
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)


def _write(batch: list[tuple[Submission, str, asyncio.Future[list[PointResult]]]]) -> list[list[PointResult]]:
    close_old_connections()
    by_source: dict[str, list[int]] = {}
    for i, (_, source, _) in enumerate(batch):
        by_source.setdefault(source, []).append(i)
    results: list[list[PointResult]] = [[] for _ in batch]
    for source, indexes in by_source.items():
        written = points_write_many(submissions=[batch[i][0] for i in indexes], source=source)
        for i, result in zip(indexes, written, strict=True):
            results[i] = result
    return results


_instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = weakref.WeakKeyDictionary()


def group_commit() -> GroupCommit:
    """The group commit of the running event loop (one per process in production)."""
    loop = asyncio.get_running_loop()
    if loop not in _instances:
        _instances[loop] = GroupCommit()
    return _instances[loop]
