"""The soak's processes: its own Redis, moto's S3 server, PostgreSQL behind a cuttable proxy, and the pagemill
processes under a small supervisor that restarts what dies (as systemd or compose would) and samples memory.

Every process is started in a session of its own, so a kill -9 reaches the whole process group, and `stop_all`
ends every one of them (also on Ctrl-C and on failure: soak.py calls it from `finally`)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RedisServer", "SmallDisk", "Supervised", "Supervisor", "group_rss_kb"]


def group_rss_kb(pgid: int) -> int:
    """Resident memory (kB) of every process of a process group: a worker's pool children count with it."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: pgrp
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


@dataclass
class Supervised:
    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    restart: bool = True
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    deaths: int = 0  # kill -9 by the fault schedule
    crashes: int = 0  # exits on its own (read its log)
    peak_rss_kb: int = 0
    down_until: float = 0.0  # a killed process comes back after a supervisor's delay
    held: bool = False  # not restarted while held (e.g. Redis during a restart fault)
    exits: list[int | None] = field(default_factory=list)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            out.write(f"\n===== soak: start #{self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def stop(self, timeout_s: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill9()
        # pool children that outlived their parent
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Supervisor:
    """Restarts dead processes after `restart_delay_s`; samples each group's RSS every `sample_s`."""

    def __init__(self, restart_delay_s: float = 2.0, sample_s: float = 2.0) -> None:
        self.procs: dict[str, Supervised] = {}
        self.restart_delay_s = restart_delay_s
        self.sample_s = sample_s
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def add(self, proc: Supervised) -> Supervised:
        with self._lock:
            self.procs[proc.name] = proc
            proc.start()
        return proc

    def begin(self) -> None:
        self._thread.start()

    def kill9(self, name: str) -> None:
        with self._lock:
            p = self.procs[name]
            p.kill9()
            p.deaths += 1
            p.down_until = time.monotonic() + self.restart_delay_s

    def _run(self) -> None:
        last_sample = 0.0
        while not self._stop.wait(0.3):
            with self._lock:
                for p in self.procs.values():
                    if p.proc is None or p.alive() or p.held or not p.restart:
                        continue
                    if time.monotonic() < p.down_until:
                        continue
                    p.exits.append(p.proc.returncode)
                    if p.proc.returncode != -signal.SIGKILL:
                        p.crashes += 1  # died on its own: worth reading its log
                    p.start()
            if time.monotonic() - last_sample >= self.sample_s:
                last_sample = time.monotonic()
                self.sample()

    def sample(self) -> None:
        with self._lock:
            for p in self.procs.values():
                if p.alive() and p.proc is not None:
                    p.peak_rss_kb = max(p.peak_rss_kb, group_rss_kb(p.proc.pid))

    def stop_all(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with self._lock:
            for p in self.procs.values():
                p.stop()


class RedisServer:
    """A redis-server of the soak's own on a spare port, no persistence: a restart loses every queued message
    (the harshest case; the sweep must send them again)."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        import redis

        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                 "no"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def peak_rss_kb(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0
        return group_rss_kb(self.proc.pid)


class SmallDisk:
    """A small tmpfs mounted over a host's folder (its object cache), so a fault can fill it: writes there fail
    with ENOSPC (a disk full; root is not stopped by permissions, a full filesystem stops everyone) until the
    filler is removed. Needs root and `mount`; `why_not` says why it cannot be used otherwise."""

    def __init__(self, path: Path, size_mb: int = 48) -> None:
        self.path, self.size_mb = path, size_mb
        self.mounted = False
        self.why_not: str | None = None
        self.filler = path / ".soak-filler"

    def mount(self) -> bool:
        if os.geteuid() != 0:
            self.why_not = "not root: no tmpfs to fill"
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.why_not = f"mount -t tmpfs failed: {done.stderr.strip()}"
            return False
        self.mounted = True
        return True

    def fill(self) -> None:
        """Writes zeros until the filesystem is full (the folder's other files stay). Unbuffered: a buffered
        file would raise ENOSPC again when closed, with the filler left in place."""
        with open(self.filler, "ab", buffering=0) as out:
            for size in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError:  # ENOSPC: full at this granularity
                    pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            self.free()
            # lazy: a worker killed a moment ago may still hold a file open there
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
            self.mounted = False
