"""Run ranges from many threads at once, as the threads pool of one worker process does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from worker.ranges.types import RangeOutcome

__all__ = ["run_in_threads"]


def run_in_threads(range_ids: list[int], threads: int, run: Callable[[int, str], RangeOutcome]) -> list[RangeOutcome]:
    """`run(range_id, worker_id)` for every range, `threads` at a time; the outcomes in finishing order."""
    outcomes: list[RangeOutcome] = []
    todo = list(range_ids)
    lock = threading.Lock()

    def work(n: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                rid = todo.pop()
            outcome = run(rid, f"w{n}")
            with lock:
                outcomes.append(outcome)

    pool = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    deadline = time.monotonic() + 120
    for t in pool:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in pool if t.is_alive()]
    assert not stuck, f"{len(stuck)} of {threads} threads were still running a range 120 s on " \
                      f"({len(outcomes)} of {len(range_ids)} ranges finished)"
    return outcomes
