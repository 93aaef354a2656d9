"""Run `pagemill worker` with cProfile in every thread; stats go to $PAGEMILL_BENCH_PROFILE.<pid> at exit.

    python bench/_profile_worker.py worker -P threads -c 8      (the harness uses it when PAGEMILL_BENCH_PROFILE is set)
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import signal
import sys
import threading
import time

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profile() -> cProfile.Profile:
    # PAGEMILL_BENCH_PROFILE_CPU=1 counts each thread's CPU time (time.thread_time) instead of wall time, so time
    # a thread spends blocked on a socket is not charged to the function that waits
    if os.environ.get("PAGEMILL_BENCH_PROFILE_CPU"):
        return cProfile.Profile(time.thread_time)
    return cProfile.Profile()


def _start_thread_profile(*_: object) -> None:
    prof = _profile()
    with _lock:
        _profiles.append(prof)
    prof.enable()  # replaces this bootstrap hook in the new thread


def _dump() -> None:
    out = os.environ["PAGEMILL_BENCH_PROFILE"] + f".{os.getpid()}"
    with _lock:
        profiles = list(_profiles)
    for p in profiles:
        p.disable()
    stats = pstats.Stats(profiles[0]) if profiles else None
    for p in profiles[1:]:
        stats.add(p)  # type: ignore[union-attr]
    if stats is not None:
        stats.dump_stats(out)


def main() -> None:
    threading.setprofile(_start_thread_profile)
    atexit.register(_dump)
    signal.signal(signal.SIGUSR1, lambda *_: _dump())
    main_prof = _profile()
    _profiles.append(main_prof)
    main_prof.enable()
    from scheduler.cli import app

    sys.argv = ["pagemill", *sys.argv[1:]]
    app()


if __name__ == "__main__":
    main()
