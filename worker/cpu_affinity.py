"""Pin a threads-pool worker process to one CPU (PAGEMILL_WORKER_CPU), so its threads hand the GIL over on one core.

A threads worker runs its Python on about one core whatever the machine has (the GIL), but Linux spreads its
threads over every core, and then each handover of the GIL wakes a thread on another core. Measured with
bench/bench_mistral_overhead.py on 2 cores against an instant server: a 1 x 8 worker spent 7.2-7.5 ms of CPU per
8-page range unpinned and 4.5-4.7 ms pinned, and stored 55 % more pages per second; 2 x 16 gained 15-25 %. With
more worker processes than CPUs it does not help (4 x 8 on 2 cores: two processes share each CPU and the kernel
can no longer balance them; no better, in some runs worse). Against a real API, whose answers take seconds, it
matters little.

Off by default: worker processes that cannot see each other (one per container) would all pick the same CPU.

    PAGEMILL_WORKER_CPU=auto   # the worker processes of this host take its CPUs in turn
    PAGEMILL_WORKER_CPU=3      # this CPU, or a list: 2,3

Only the threads and solo pools are pinned: a prefork pool's children run the CPU-bound local engine, one per
core, and would inherit the pin.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuPin", "check_usable", "parse_cpu_setting", "pin_all_threads", "pin_this_process"]

log = logging.getLogger("pagemill.worker")

AUTO = "auto"


@dataclass
class CpuPin:
    cpus: set[int]
    slot_fd: int | None = None  # auto: the slot lock, held for the life of the process (the kernel frees it)


def parse_cpu_setting(value: str | None) -> str | set[int] | None:
    """None (off), "auto", or a set of CPU numbers; ValueError says what is accepted."""
    if value is None or value.strip().lower() in ("", "off", "none"):
        return None
    value = value.strip().lower()
    if value == AUTO:
        return AUTO
    refused = ValueError(f"PAGEMILL_WORKER_CPU={value!r}: use auto, off, or CPU numbers such as 3 or 2,3")
    try:
        cpus = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise refused from None
    if not cpus or min(cpus) < 0:
        raise refused
    return cpus


def check_usable(setting: str | set[int] | None) -> None:
    """ValueError when the setting names CPUs this process may not run on (`pagemill worker` checks before it
    starts: in the worker's start-up signal the error would only be logged and the worker run unpinned)."""
    if isinstance(setting, set) and hasattr(os, "sched_getaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if not setting <= set(allowed):
            raise ValueError(
                f"PAGEMILL_WORKER_CPU names CPU(s) {sorted(setting - set(allowed))} this worker may not use; "
                f"it may use {allowed}"
            )


def _slots_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"pagemill-cpu-slots-{os.getuid()}"


def _take_slot(folder: Path) -> tuple[int, int]:
    """The lowest free slot number of this host and its lock. A lock file per slot, held with flock while the
    process lives: the kernel frees the slot of a process that exits or is killed, so a restarted worker takes
    the CPU its predecessor had. Hand-written: nothing on PyPI hands out CPUs to unrelated processes."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    slot = 0
    while True:
        fd = os.open(folder / f"slot-{slot}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return slot, fd
        except OSError:
            os.close(fd)
            slot += 1


def pin_all_threads(cpus: set[int]) -> None:
    """Every thread of this process on `cpus`; threads started later inherit it from their starter.
    `sched_setaffinity(0)` alone pins the calling thread only, not those already running (log, lease keeper)."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a thread that just ended
            pass


def pin_this_process(setting: str | set[int] | None, slots_dir: Path | None = None) -> CpuPin | None:
    """Pin every thread of this process (and so the threads it starts later) to one CPU, or to the CPUs given.
    None when off or when the platform cannot pin (not Linux): the worker then runs unpinned."""
    if setting is None:
        return None
    if not hasattr(os, "sched_setaffinity"):
        log.warning("PAGEMILL_WORKER_CPU is set but this platform cannot pin a process to a CPU; running unpinned")
        return None
    allowed = sorted(os.sched_getaffinity(0))
    pin = CpuPin(set())
    if setting == AUTO:
        slot, pin.slot_fd = _take_slot(slots_dir or _slots_dir())
        pin.cpus = {allowed[slot % len(allowed)]}
    else:
        assert isinstance(setting, set)
        check_usable(setting)
        pin.cpus = set(setting)
    pin_all_threads(pin.cpus)
    log.info("worker pinned to CPU %s", ",".join(map(str, sorted(pin.cpus))))
    return pin
