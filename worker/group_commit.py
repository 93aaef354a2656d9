"""Group commit: the writes of ranges that finish at the same moment in one worker process share a transaction.

A range's store is a handful of statements and a commit. Each statement costs the worker ~50-100 us of CPU in
SQLAlchemy and the driver, and each commit costs PostgreSQL a WAL flush and SQLite a pass through the writer
lock. While one thread writes, the threads that finish meanwhile queue up; when it is done, the first of them
writes everything that queued, in one transaction. Under load the batches grow by themselves; a range that
finishes alone is written at once (no timer, no added wait).

Hand-written because nothing we use does it: SQLAlchemy and Celery batch within one call, not across the
threads of a pool, and database drivers leave commits to the caller.

Every caller returns only once its own item is committed (or has failed), so a task still acknowledges only
what is stored: a crash loses nothing it did not lose before. A batch whose transaction fails is written
again one item at a time, so a bad item fails alone and the others are stored, unless the error is the
database's rather than an item's (it is away): then every caller gets it at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result", "woken")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False
        self.woken = threading.Event()  # set when done, or when this caller must write the next batch


class GroupCommit(Generic[T, R]):
    """`commit(item)` writes `item` with whatever else is waiting: `write(items)` runs one transaction for a
    batch and returns one result per item, in order. `max_batch` bounds a transaction (its lock time).
    `shared_failure(exc)` tells an error that every item of the batch would meet again (no retry one by one)."""

    def __init__(
        self, write: Callable[[Sequence[T]], list[R]], max_batch: int = 32,
        shared_failure: Callable[[Exception], bool] = lambda exc: False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self.max_batch = max_batch
        # an error that no item caused (the database is away): every caller gets it at once, rather than
        # after one more attempt per item
        self._shared_failure = shared_failure
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._writing = False  # a caller is writing a batch; the queue is handed to the next one after it
        self.batches = 0  # transactions run, for the benchmarks and tests
        self.items = 0

    def commit(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._writing
            self._writing = True
        if not lead:
            slot.woken.wait()  # a batch wrote our item, or it is our turn to write one
        if not slot.done:
            try:
                while not slot.done:  # our item is first in the queue: the first batch writes it
                    with self._lock:
                        batch = self._queue[: self.max_batch]
                        del self._queue[: self.max_batch]
                    self._run(batch)
            finally:
                self._hand_over()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _hand_over(self) -> None:
        """After writing: wake the oldest waiting caller to write the next batch, or stand down."""
        with self._lock:
            nxt = self._queue[0] if self._queue else None
            if nxt is None:
                self._writing = False
        if nxt is not None:
            nxt.woken.set()

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            try:
                results = self._write([s.item for s in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"a batch write returned {len(results)} results for {len(batch)} items")
            except Exception as exc:
                if len(batch) == 1 or self._shared_failure(exc):
                    raise
                # one at a time: a bad item fails alone, the others are stored
                for s in batch:
                    try:
                        self._finish(s, result=self._write([s.item])[0])
                    except Exception as exc:  # noqa: BLE001 - handed to that item's caller
                        self._finish(s, error=exc)
                return
            self.batches += 1
            self.items += len(batch)
            for s, r in zip(batch, results, strict=True):
                self._finish(s, result=r)
        except BaseException as exc:
            for s in batch:
                if not s.done:
                    self._finish(s, error=exc)
            if not isinstance(exc, Exception):
                raise

    @staticmethod
    def _finish(slot: _Slot[T, R], result: R | None = None, error: BaseException | None = None) -> None:
        slot.result, slot.error, slot.done = result, error, True
        slot.woken.set()
