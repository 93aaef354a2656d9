"""Watched folder latency: from the last write of a file to its range tasks being enqueued.

    python bench/bench_watch.py [N_FILES]

100 files (each written in 3 chunks 0.1 s apart, one file every 50 ms) are dropped into a watched folder;
the time from each file's last write to the moment its ranges were sent to the broker is measured, for the
default settle time (5 s) and a short one (1 s), with native events and with polling. Target: p95 <=
settle + 1 s. Uses Redis (127.0.0.1:6379/15, a queue of its own) when reachable, else the embedded broker.
"""

from __future__ import annotations

import io
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _png(seed: int) -> bytes:
    img = Image.new("L", (64, 64), color=255)
    img.putpixel((seed % 64, (seed // 64) % 64), seed % 200)
    img.putpixel((1, 1), (seed // 4096) % 256)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _drop(folder: Path, seeds: range, last_write: dict[Path, float]) -> None:
    for seed in seeds:
        data = _png(seed)
        path = folder / f"scan-{seed}.png"
        third = len(data) // 3 + 1
        with open(path, "wb") as fh:
            for i in range(3):
                fh.write(data[i * third:(i + 1) * third])
                fh.flush()
                last_write[path] = time.time()
                if i < 2:
                    time.sleep(0.1)
        time.sleep(0.05)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_case(base: Path, db: object, settings: object, settle_s: float, polling: bool, seeds: range) -> None:
    from scheduler.intake.register import IntakeResult
    from scheduler.watch.folder import FolderWatcher, WatchOptions

    folder = base / f"inbox-{settle_s}-{polling}"
    folder.mkdir()
    queued: dict[Path, float] = {}
    enqueued_ranges = [0]

    def on_queued(path: Path, result: IntakeResult) -> None:
        queued[path] = time.time()
        enqueued_ranges[0] += len(result.range_ids)

    stop = threading.Event()
    opts = WatchOptions(settle_s=settle_s, polling=polling, poll_delay_ms=500, rescan_interval_s=300)
    watcher = FolderWatcher(folder, db, settings, opts, stop, on_queued=on_queued)  # type: ignore[arg-type]
    watcher.start()
    watcher.ready.wait(30)
    last_write: dict[Path, float] = {}
    _drop(folder, seeds, last_write)
    deadline = time.monotonic() + settle_s + 60
    while len(queued) < len(seeds) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    watcher.join(15)
    lat = [queued[p] - last_write[p] for p in last_write if p in queued]
    p50, p95 = statistics.median(lat), _pct(lat, 0.95)
    target = settle_s + 1.0
    mode = "polling" if polling else "native"
    print(
        f"{mode:8s} settle {settle_s:4.1f}s  files {len(lat):3d}/{len(seeds)}  "
        f"ranges {enqueued_ranges[0]:3d}  "
        f"p50 {p50:6.2f}s  p95 {p95:6.2f}s  max {max(lat):6.2f}s  target p95 <= {target:.1f}s  "
        f"{'OK' if p95 <= target and len(lat) == len(seeds) else 'MISSED'}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    base = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    os.environ["PAGEMILL_DATA_DIR"] = str(base / "data")
    queue = f"bench-watch-{os.getpid()}"
    if _redis_up():
        os.environ["PAGEMILL_BROKER_URL"] = REDIS_URL
        os.environ["PAGEMILL_QUEUE"] = queue
    from models.db import Database
    from models.settings import DatabaseSettings
    from worker.settings import WorkerSettings
    from worker.tasks.app import app, configure

    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    configure(app, settings)
    print(f"broker: {'redis' if not settings.embedded_broker else 'embedded (SQLite)'}; {n} files per case; "
          f"cpus {os.cpu_count()}")
    cases = [(5.0, False), (1.0, False), (1.0, True)]
    for i, (settle, polling) in enumerate(cases):
        run_case(base, db, settings, settle, polling, range(i * 10_000, i * 10_000 + n))
    if not settings.embedded_broker:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        print(f"messages on the queue: {client.llen(queue)}")
        client.delete(queue)


if __name__ == "__main__":
    main()
