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
from typing import Any, Protocol

from django.db import close_old_connections

from data.services import PointResult, Submission, points_write_many
from plugboard.live import bind_event_loop

log = logging.getLogger(__name__)

MAX_BATCH_SUBMISSIONS = 5_000


class Publisher(Protocol):
    """Who hears that a publish was stored: an MQTT endpoint, which then acknowledges it."""

    def stored(self, event: Any, ok: bool) -> None: ...


# A queued submission: (points, source, who is told, what they are told about). The one told is
# a publisher (the hot path: no future, no callback object per message), a future, or nobody.
_Entry = tuple[Submission, str, "Publisher | asyncio.Future[list[PointResult]] | None", Any]


class GroupCommit:
    def __init__(self) -> None:
        self._queue: list[_Entry] = []
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
        future: asyncio.Future[list[PointResult]] = asyncio.get_running_loop().create_future()
        self._enqueue((submission, source, future, None))
        return future

    def submit_for(
        self, submission: Submission, source: str, publisher: Publisher | None, event: Any
    ) -> None:
        """Queue one publish's points; once the batch is written, `publisher.stored(event, ok)`
        is called (in submission order), unless `publisher` is None (QoS 0: nobody waits)."""
        self._enqueue((submission, source, publisher, event))

    def _enqueue(self, entry: _Entry) -> None:
        self._queue.append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if not self._wakeup.is_set():
            self._wakeup.set()

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
                    for _, _, told, event in batch:
                        if isinstance(told, asyncio.Future):
                            if not told.done():
                                told.set_exception(exc)
                        elif told is not None:
                            told.stored(event, False)
                    continue
                for (_, _, told, event), result in zip(batch, results, strict=True):
                    if told is None:
                        continue
                    if isinstance(told, asyncio.Future):
                        if not told.done():
                            told.set_result(result)
                    else:
                        try:
                            told.stored(event, True)
                        except Exception:  # one connection's trouble is not the batch's
                            log.exception("acknowledging a stored publish failed")


def _write(batch: list[_Entry]) -> list[list[PointResult]]:
    close_old_connections()
    by_source: dict[str, list[int]] = {}
    for i, (_, source, _, _) in enumerate(batch):
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
