"""The soak's feeder: makes files (scans, born-digital PDFs, images, duplicates, bad files) and hands them over,
dropped in the watched folder (atomically or written slowly) or submitted, some with `--schema` or `--batch`."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _soak_files import Fed, make_file
from _soak_setup import Run, pagemill_cmd

__all__ = ["Feeder"]


class Feeder:
    """Makes files and hands them over, until told to stop. Submits run one at a time in a thread of their own;
    a submit that fails (a fault) is tried again, as a user or a script would, up to 4 times."""

    KINDS = (("scan", 40), ("digital", 30), ("png", 8), ("jpeg", 7), ("dup", 6), ("corrupt", 3),
             ("encrypted", 3), ("empty", 3))

    def __init__(self, run: Run, inbox: Path, staging: Path, schema: Path, submit_host: Path) -> None:
        self.run, self.inbox, self.staging, self.schema, self.submit_host = run, inbox, staging, schema, submit_host
        self.rng = random.Random(run.rng.random())
        self.n = 0
        self.lock = threading.Lock()  # file numbers: the fault thread makes files too
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="feeder", daemon=True)
        self.submit_thread: threading.Thread | None = None
        self.watch_fed: list[Fed] = []

    def _new(self) -> Fed:
        kind = self.rng.choices([k for k, _ in self.KINDS], [w for _, w in self.KINDS])[0]
        if kind == "dup" and self.watch_fed:
            orig = self.rng.choice(self.watch_fed)
            with self.lock:
                self.n += 1
                n = self.n
            src = self.staging / orig.name
            name = f"soak-{n:05d}-dup-of-{orig.n:05d}{Path(orig.name).suffix}"
            shutil.copyfile(src, self.staging / name)
            return Fed(n, name, "dup", orig.pages, orig.sha256, expect=orig.expect, dup_of=orig.n,
                       keys=list(orig.keys))
        if kind == "dup":
            kind = "scan"
        pages = self.rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 12]) if kind in ("scan", "digital") else 1
        with self.lock:
            self.n += 1
            return make_file(self.staging, self.n, kind, self.rng, pages)

    def _record(self, fed: Fed, how: str) -> None:
        fed.how, fed.at = how, time.time()
        with self.run.fed_lock:
            self.run.fed.append(fed)

    def _drop(self, fed: Fed) -> None:
        src = self.staging / fed.name
        dst = self.inbox / fed.name
        if self.rng.random() < 0.3:  # written slowly, as a scanner or a network copy does
            data = src.read_bytes()
            chunks = max(1, len(data) // 4096)
            with open(dst, "wb") as out:
                for i in range(0, len(data), max(1, len(data) // min(chunks, 5))):
                    out.write(data[i:i + max(1, len(data) // min(chunks, 5))])
                    out.flush()
                    time.sleep(self.rng.uniform(0.2, 0.6))
        else:
            tmp = self.inbox / f".{fed.name}.part"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        self._record(fed, "watch")
        if fed.kind != "dup":
            self.watch_fed.append(fed)

    def copy_slowly_and_kill(self, kill: Callable[[], None], chunks: int = 14, pause_s: float = 0.5) -> Fed:
        """The watcher killed mid-copy: a large scan written into the watched folder in `chunks` writes
        `pause_s` apart (a network copy; within the watcher's settle time), the scheduler killed (by `kill`) when
        about 40 % is written. The copy goes on while the supervisor restarts it: the file must be registered
        once, complete (a partial file would be a document of a content never fed)."""
        with self.lock:
            self.n += 1
            # a generator of its own: the feeder's sequence of files stays the seed's
            fed = make_file(self.staging, self.n, "scan", random.Random(self.n), 12)
        data = (self.staging / fed.name).read_bytes()
        step = max(1, -(-len(data) // chunks))
        with open(self.inbox / fed.name, "wb") as out:
            for i, at in enumerate(range(0, len(data), step)):
                out.write(data[at:at + step])
                out.flush()
                if i == int(chunks * 0.4):
                    kill()
                time.sleep(pause_s)
        self._record(fed, "watch (scheduler killed mid-copy)")
        return fed

    def _submit(self, files: list[Fed], mode: str) -> None:
        folder = self.staging / f"submit-{files[0].n:05d}"
        folder.mkdir()
        for fed in files:
            shutil.copyfile(self.staging / fed.name, folder / fed.name)
        extra = {"plain": [], "schema": ["--schema", str(self.schema)], "batch": ["--batch"]}[mode]
        how = "submit" + (f" --{mode}" if mode != "plain" else "")
        env = dict(self.run.env, PAGEMILL_DATA_DIR=str(self.submit_host))
        for attempt in range(1, 5):
            started = time.time()
            try:
                done = subprocess.run(pagemill_cmd("submit", str(folder), *extra), env=env, capture_output=True,
                                      text=True, timeout=240, check=False)
                rc, out = done.returncode, (done.stdout + done.stderr)
            except subprocess.TimeoutExpired as exc:
                rc, out = -1, f"timed out: {exc}"
            with open(self.run.work / "submit.log", "a") as f:
                f.write(f"\n== {how} {[x.name for x in files]} attempt {attempt} rc={rc} "
                        f"({time.time() - started:.1f} s)\n{out}\n")
            if rc == 0:
                for fed in files:
                    self._record(fed, how)
                return
            self.run.submit_failures.append(f"{how} attempt {attempt}: rc={rc} {out.strip().splitlines()[-1:]}")
            if self.stop.wait(5 * attempt) and attempt >= 2:
                break
        with self.run.fed_lock:
            for fed in files:
                fed.how = how + " (never accepted)"
                self.run.not_accepted.append(fed)

    def _loop(self) -> None:
        while not self.stop.is_set():
            if self.rng.random() < 0.3 and (self.submit_thread is None or not self.submit_thread.is_alive()):
                files = []
                for _ in range(self.rng.randint(2, 5)):
                    fed = self._new()
                    if fed.kind == "dup":  # duplicates go through the watched folder only
                        self._drop(fed)
                        continue
                    files.append(fed)
                if files:
                    mode = self.rng.choices(["plain", "schema", "batch"], [2, 1, 1])[0]
                    if mode == "schema":
                        files = [f for f in files if f.pages <= 8] or files[:1]
                    self.submit_thread = threading.Thread(target=self._submit, args=(files, mode), daemon=True)
                    self.submit_thread.start()
            else:
                self._drop(self._new())
            self.stop.wait(self.rng.uniform(1.0, 3.5) / self.run.args.feed_rate)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(60)
        if self.submit_thread is not None:
            self.submit_thread.join(600)
