"""Dynamic micro-batching: requests that arrive together go through one call of a batch function.

``MicroBatcher(fn, max_batch=32, max_wait_ms=5, max_queue=64)``: ``await submit(items)`` queues one
request's items (its locations) and returns ``fn``'s results for them, in order. One worker task takes
the oldest request, then keeps taking queued requests until the batch holds ``max_batch`` items or
``max_wait_ms`` has passed since it took the first (requests already queued are taken at once: while
the model works on one batch, the next one gathers), and calls ``fn(all items)`` once, in a worker
thread, so the event loop keeps accepting requests. A request is never split: one larger than
``max_batch`` runs alone (``fn`` batches internally).

Bounded queue: with ``max_queue`` requests waiting, :meth:`submit` raises :class:`QueueFull` at once
(the server answers 503 with Retry-After) instead of letting clients hang.

Isolation: ``fn`` returns one result per item (the server's ``Geolocator.predict`` gives a failed item
its own ``Prediction.error``). Should ``fn`` raise for a whole batch, every request of that batch is
run again alone, so only the request that breaks it gets the error (:class:`BatchItemError`).

:meth:`stop` finishes every queued request before the worker ends (graceful shutdown); requests
submitted after it raise :class:`QueueFull`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The queue holds ``max_queue`` requests (or the batcher is stopping); retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 1):
        super().__init__(message)
        self.retry_after_s = int(retry_after_s)


class BatchItemError(Exception):
    """``fn`` raised while predicting this request on its own (the message is one line)."""


@dataclass
class BatchInfo:
    """How a request was served: items in its ``fn`` call, seconds queued and in ``fn``."""

    size: int
    queue_s: float
    predict_s: float


@dataclass
class _Job:
    items: list
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


_STOP = object()


class MicroBatcher:
    """See the module docstring. ``on_batch(size, predict_s, queue_s_list)`` is called after each call of ``fn``."""

    def __init__(self, fn: Callable[[list], Sequence[Any]], *, max_batch: int = 32, max_wait_ms: float = 5.0,
                 max_queue: int = 64, on_batch: Callable[[int, float, list[float]], None] | None = None):
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_wait_ms >= 0")
        self.fn = fn
        self.max_batch = int(max_batch)
        self.max_wait_s = float(max_wait_ms) / 1e3
        self.max_queue = int(max_queue)
        self.on_batch = on_batch
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: _Job | None = None
        self._stopping = False
        self.mean_batch_s = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker (inside the running event loop)."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoloc-predict")
        self._stopping = False
        self._worker = asyncio.create_task(self._run(), name="geoloc-batcher")

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then end the worker and its thread."""
        if self._worker is None:
            return
        self._stopping = True
        self._queue.put_nowait(_STOP)
        await self._worker
        self._worker = None
        self._executor.shutdown(wait=True)

    @property
    def depth(self) -> int:
        """Requests waiting now (not counting the batch being predicted)."""
        return 0 if self._queue is None else self._queue.qsize() + (self._carry is not None)

    # -- requests ----------------------------------------------------------------------------------
    async def submit(self, items: Sequence[Any]) -> tuple[list[Any], BatchInfo]:
        """Queue one request's items; returns (``fn``'s results for them, how the batch ran). Raises
        :class:`QueueFull` when the queue is full or the batcher stops, :class:`BatchItemError` when
        ``fn`` raised on this request alone."""
        if self._worker is None or self._stopping:
            raise QueueFull("the server is shutting down", retry_after_s=1)
        if self.depth >= self.max_queue:
            raise QueueFull(f"the queue is full ({self.max_queue} requests waiting)",
                            retry_after_s=self.retry_after_s())
        job = _Job(list(items), asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return await job.future

    def retry_after_s(self) -> int:
        """Whole seconds after which the queue has likely drained (at least 1)."""
        batches = self.depth / max(self.max_batch, 1) + 1
        return max(1, int(batches * self.mean_batch_s + 0.999))

    # -- worker ------------------------------------------------------------------------------------
    async def _next(self, timeout: float | None):
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait() if not self._queue.empty() else None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = False
        while not stop:
            first = await self._next(None)
            if first is _STOP:
                break
            jobs, n = [first], len(first.items)
            deadline = time.perf_counter() + self.max_wait_s
            while n < self.max_batch:
                job = await self._next(deadline - time.perf_counter())
                if job is None:
                    break
                if job is _STOP:
                    stop = True  # finish this batch and what is still queued, then end
                    break
                if n + len(job.items) > self.max_batch:
                    self._carry = job
                    break
                jobs.append(job)
                n += len(job.items)
            await self._serve(loop, jobs)
        while (job := await self._next(0)) is not None:  # requests queued behind the stop mark
            if job is not _STOP:
                await self._serve(loop, [job])

    async def _serve(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        items = [x for j in jobs for x in j.items]
        results = await loop.run_in_executor(self._executor, self._call_isolated, jobs)
        predict_s = time.perf_counter() - started
        self.mean_batch_s = predict_s if self.mean_batch_s == 0 else 0.8 * self.mean_batch_s + 0.2 * predict_s
        queue_s = [started - j.queued_at for j in jobs]
        if self.on_batch is not None:
            self.on_batch(len(items), predict_s, queue_s)
        for job, res, q in zip(jobs, results, queue_s, strict=True):
            if job.future.done():  # the client went away
                continue
            if isinstance(res, BaseException):
                job.future.set_exception(res)
            else:
                job.future.set_result((res, BatchInfo(size=len(items), queue_s=q, predict_s=predict_s)))

    def _call_isolated(self, jobs: list[_Job]) -> list[list[Any] | BaseException]:
        """``fn`` over every job's items at once; if it raises, each job alone (see the module docstring)."""
        items = [x for j in jobs for x in j.items]
        try:
            out = list(self.fn(items))
            if len(out) != len(items):
                raise RuntimeError(f"batch function returned {len(out)} results for {len(items)} items")
        except Exception as exc:
            if len(jobs) == 1:
                return [BatchItemError(f"prediction failed: {type(exc).__name__}: {exc}".splitlines()[0])]
            return [self._call_isolated([j])[0] for j in jobs]
        results, k = [], 0
        for j in jobs:
            results.append(out[k:k + len(j.items)])
            k += len(j.items)
        return results


__all__ = ["BatchInfo", "BatchItemError", "MicroBatcher", "QueueFull"]
