"""Run ranges from many threads at once, as the threads pool of one worker process does."""

from __future__ import annotations

import threading
from collections.abc import Callable

from worker.pipeline import RangeOutcome

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

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    return outcomes
