"""The soak's fault schedule: drawn in full from the seed before the run starts (printed, so a failing run can
be replayed), then injected at its times by one thread; faults that last (a cut, a pause, an outage) run in
threads of their own and end by themselves, or when the soak stops."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["KINDS", "Fault", "FaultRunner", "plan_faults"]

KINDS = ("kill_worker", "kill_scheduler", "redis_restart", "pg_cut", "bucket_pause", "api_outage",
         "kill_watcher_midcopy", "disk_full", "receiver_away")
_WEIGHTS = (4, 2, 1, 2, 1, 1, 1, 1, 1)


@dataclass
class Fault:
    at_s: float  # seconds after the start of feeding
    kind: str
    duration_s: float = 0.0
    detail: str = ""
    started: float | None = None  # wall clock
    ended: float | None = None

    def describe(self) -> str:
        lasting = f" for {self.duration_s:.0f} s" if self.duration_s else ""
        return f"t+{self.at_s:5.0f}s {self.kind}{lasting} {self.detail}".rstrip()


def plan_faults(rng: random.Random, feed_s: float, workers: list[str]) -> list[Fault]:
    """Every kind once early on (shuffled), then random kinds, one every 15-45 s, from 20 s in until the end of
    feeding. A short run gets fewer."""
    faults: list[Fault] = []
    t = min(20.0, feed_s * 0.15)
    first = list(KINDS)
    rng.shuffle(first)
    while True:
        t += rng.uniform(12, 40) if feed_s > 300 else rng.uniform(8, 22)
        if t >= feed_s:
            break
        kind = first.pop() if first else rng.choices(KINDS, _WEIGHTS)[0]
        f = Fault(round(t, 1), kind)
        if kind == "kill_worker":
            f.detail = rng.choice(workers)
        elif kind == "redis_restart":
            f.duration_s = round(rng.uniform(1, 6), 1)
        elif kind == "pg_cut":
            f.duration_s = round(rng.uniform(5, 30), 1)
        elif kind == "bucket_pause":
            f.duration_s = round(rng.uniform(10, 60), 1)
        elif kind == "api_outage":
            f.duration_s = round(rng.uniform(20, 60), 1)
            f.detail = rng.choice(["429", "503"])
        elif kind == "disk_full":
            f.duration_s = round(rng.uniform(15, 60), 1)
        elif kind == "receiver_away":
            f.duration_s = round(rng.uniform(30, 70), 1)
        faults.append(f)
    return faults


@dataclass
class FaultRunner:
    """Injects `faults` against the soak's handles. `actions` maps a kind to (start, end) callables."""

    faults: list[Fault]
    actions: dict[str, tuple[Callable[[Fault], None], Callable[[Fault], None] | None]]
    log: Callable[[str], None]
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _busy: dict[str, threading.Event] = field(default_factory=dict)
    t0: float = 0.0

    def start(self, t0: float) -> None:
        self.t0 = t0
        th = threading.Thread(target=self._run, name="faults", daemon=True)
        th.start()
        self._threads.append(th)

    def _run(self) -> None:
        for f in self.faults:
            if self._stop.wait(max(0.0, self.t0 + f.at_s - time.time())):
                return
            busy = self._busy.get(f.kind)
            if busy is not None and not busy.is_set():
                f.detail += " (skipped: the previous one still on)"
                continue
            start, end = self.actions[f.kind]
            f.started = time.time()
            self.log(f"fault  {f.describe()}")
            try:
                start(f)
            except Exception as exc:
                f.detail += f" (failed to inject: {exc})"
                f.ended = time.time()
                continue
            if end is None:
                f.ended = f.started
                continue
            done = threading.Event()
            self._busy[f.kind] = done
            th = threading.Thread(target=self._end_later, args=(f, end, done), daemon=True)
            th.start()
            self._threads.append(th)

    def _end_later(self, f: Fault, end: Callable[[Fault], None], done: threading.Event) -> None:
        self._stop.wait(f.duration_s)
        try:
            end(f)
        finally:
            f.ended = time.time()
            self.log(f"ended  {f.kind} after {f.ended - (f.started or f.ended):.0f} s")
            done.set()

    def stop(self) -> None:
        """No new faults; the lasting ones end now (their end actions run)."""
        self._stop.set()
        for th in self._threads:
            th.join(30)

    def windows(self) -> list[tuple[float, float]]:
        """(start, end) wall-clock windows during which a fault was on (a kill counts 30 s: the time to recover)."""
        out = []
        for f in self.faults:
            if f.started is None:
                continue
            end = f.ended if f.ended and f.ended > f.started else f.started
            out.append((f.started, max(end, f.started + 30 if f.kind.startswith("kill") else end)))
        return out


def sigstop(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def sigcont(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


