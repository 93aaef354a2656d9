"""PAGEMILL_WORKER_CPU: a threads worker process pinned to one CPU, the host's workers taking its CPUs in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import start_worker, stop_process, wait_until
from worker.cpu_affinity import parse_cpu_setting, pin_this_process
from worker.settings import WorkerSettings

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity needs Linux")

ALLOWED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]


def _allowed_cpus(pid: int) -> set[int]:
    """The CPUs every thread of a process may run on (the union, as /proc shows it per thread)."""
    cpus: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            cpus |= os.sched_getaffinity(int(tid))
        except OSError:
            pass
    return cpus


def test_the_setting_is_off_auto_or_cpu_numbers() -> None:
    assert parse_cpu_setting(None) is None
    assert parse_cpu_setting("") is None
    assert parse_cpu_setting("off") is None
    assert parse_cpu_setting(" Auto ") == "auto"
    assert parse_cpu_setting("2,3") == {2, 3}
    with pytest.raises(ValidationError, match="use auto, off, or CPU numbers"):
        WorkerSettings(worker_cpu="fast")
    with pytest.raises(ValueError, match="use auto, off, or CPU numbers"):
        parse_cpu_setting("-1")


def test_a_cpu_the_worker_may_not_use_is_refused_before_anything_is_pinned() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(ValueError, match=r"may not use; it may use \["):
        pin_this_process({max(ALLOWED) + 1000})
    assert os.sched_getaffinity(0) == before


def test_auto_pins_threads_already_running_and_threads_started_later(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import json, os, threading
        from pathlib import Path
        from worker.cpu_affinity import pin_this_process
        started = threading.Event(); done = threading.Event(); seen = {{}}
        def early():
            seen["early_tid"] = threading.get_native_id(); started.set(); done.wait()
        t = threading.Thread(target=early); t.start(); started.wait()
        pin = pin_this_process("auto", Path({str(tmp_path)!r}))
        later = threading.Thread(target=lambda: seen.update(later=os.sched_getaffinity(0))); later.start(); later.join()
        print(json.dumps([sorted(pin.cpus), sorted(os.sched_getaffinity(0)),
                          sorted(os.sched_getaffinity(seen["early_tid"])), sorted(seen["later"])]))
        done.set()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    pinned, main, early, later = json.loads(out.stdout)
    assert pinned == [ALLOWED[0]]  # the first worker of the host takes the first CPU
    assert main == early == later == pinned


def test_live_workers_take_the_cpus_in_turn_and_a_dead_workers_slot_is_free_again(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from worker.cpu_affinity import pin_this_process
        pin = pin_this_process("auto", Path({str(tmp_path)!r}))
        print(sorted(pin.cpus)[0], flush=True)
        sys.stdin.readline()
    """)
    procs = []
    try:
        for _ in range(3):
            p = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            procs.append((p, int(p.stdout.readline())))  # type: ignore[union-attr]
        assert [cpu for _, cpu in procs] == [ALLOWED[i % len(ALLOWED)] for i in range(3)]
        first, _ = procs[0]
        first.kill()
        first.wait(10)
        again = subprocess.run([sys.executable, "-c", holder], input="\n", capture_output=True, text=True,
                               check=True, timeout=60)
        assert int(again.stdout) == ALLOWED[0]  # slot 0 was released by the kernel when its holder died
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.stdin.write("\n")  # type: ignore[union-attr]
                p.stdin.flush()  # type: ignore[union-attr]
                p.wait(10)


def test_a_threads_worker_runs_on_one_cpu_and_a_prefork_worker_on_all(data_dir: Path, tmp_path: Path) -> None:
    env = {"PAGEMILL_WORKER_CPU": "auto", "TMPDIR": str(tmp_path)}
    threads = start_worker(env, concurrency=4, args=["-P", "threads"])
    prefork = start_worker(env, concurrency=2, args=["-P", "prefork"])
    try:
        assert wait_until(lambda: len(list(tmp_path.glob("pagemill-cpu-slots-*/slot-*"))) >= 1, 60)
        assert wait_until(lambda: _allowed_cpus(threads.pid) == {ALLOWED[0]}, 30), _allowed_cpus(threads.pid)
        assert _allowed_cpus(prefork.pid) == set(ALLOWED)  # its children run the CPU-bound engine, one per core
        assert threads.poll() is None and prefork.poll() is None
    finally:
        stop_process(threads)
        stop_process(prefork)


def test_a_value_the_setting_refuses_stops_the_worker_with_a_readable_error(data_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "scheduler.cli", "worker", "-P", "threads"], capture_output=True,
                         text=True, timeout=60, check=False, env={**os.environ, "PAGEMILL_WORKER_CPU": "fast"})
    assert out.returncode == 2
    said = " ".join(out.stderr.split())  # the console wraps long lines
    assert "PAGEMILL_WORKER_CPU" in said and "use auto, off, or CPU numbers" in said
    assert "Traceback" not in said


def test_a_cpu_the_worker_may_not_use_stops_pagemill_worker_before_it_starts(data_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "scheduler.cli", "worker", "-P", "threads"], capture_output=True,
                         text=True, timeout=60, check=False,
                         env={**os.environ, "PAGEMILL_WORKER_CPU": str(max(ALLOWED) + 1000)})
    assert out.returncode == 3
    said = " ".join(out.stderr.split())  # the console wraps long lines
    assert "may not use; it may use" in said and "Traceback" not in said
