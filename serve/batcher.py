"""Micro-batching of concurrent single-text requests (the "queue for ML requests").

Each ``/predict`` request puts its text on an asyncio queue and awaits a future. One
collector task takes the first waiting text and every text queued behind it, up to
``max_batch`` (and, with ``max_wait_s`` > 0 and room left, waits that long once for more).
The batch is scored in one model call on a single worker thread (``run_in_executor``), so the
event loop keeps accepting and parsing requests while the model works; the texts that arrive
meanwhile make the next batch. So under load the batches fill by themselves, each collected
while the previous one was scored (a few milliseconds), and a lone request waits for nothing:
``serve/benchmark.py`` measured the default ``max_wait_s = 0`` faster at every concurrency
than a fixed 1 or 2 ms wait (serve/README.md). Model calls are serialized on that thread: with 2 cores, one
thread scoring and the event loop serving is the split that keeps both busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger(__name__)
Predict = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]


class MicroBatcher:
    def __init__(self, predict: Predict, max_batch: int = 64, max_wait_s: float = 0.0) -> None:
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[tuple[float, int]]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.texts = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def score_many(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One model call for ``texts`` (a batch request), on the model thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict, list(texts))

    async def score_one(self, text: str) -> tuple[float, int]:
        future: asyncio.Future[tuple[float, int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((text, future))
        return await future

    def _drain(self, batch: list[tuple[str, asyncio.Future[tuple[float, int]]]]) -> None:
        while len(batch) < self.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _next_batch(self) -> list[tuple[str, asyncio.Future[tuple[float, int]]]]:
        batch = [await self._queue.get()]
        self._drain(batch)
        if len(batch) < self.max_batch and self.max_wait_s > 0:
            await asyncio.sleep(self.max_wait_s)
            self._drain(batch)
        return batch

    async def _collect(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [(text, future) for text, future in batch if not future.done()]
            if not live:
                continue
            try:
                scores, labels = await self.score_many([text for text, _ in live])
            except Exception as error:  # handed to every waiting request
                log.exception("model call failed for a batch of %d texts", len(live))
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            self.texts += len(live)
            for (_, future), score, label in zip(live, scores.tolist(), labels.tolist(), strict=True):
                if not future.done():
                    future.set_result((score, label))
