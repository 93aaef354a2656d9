"""Intake at disk speed: `submit` of many small files, embedded and on Redis + PostgreSQL (and a bucket).

For each size it prints files/s of `scheduler.launch.submit.submit` in a process of its own (hash, copy, inspect,
register, enqueue: what `pagemill submit` does, without worker processes), the same figure for a bare loop that
only hashes and copies the same files into a folder (the disk's speed for this work), their ratio, the cost per
file (flat from 1k to 100k files means no query grows with the number of documents), the one-time cost a first
submit pays before its files (creating the schema, loading Celery), and `pagemill status` latency at that
size: the totals and the rows it prints, in process, the whole command as a user runs it (Python start-up
included), and `pagemill status job:1` (the intake's job, which holds every document).

    python bench/bench_intake.py                         # 1,000 and 10,000 files, embedded and Redis+PostgreSQL
    python bench/bench_intake.py --sizes 1000,10000,100000
    python bench/bench_intake.py --s3                    # also into a bucket on moto's S3 server (127.0.0.1)
    python bench/bench_intake.py --sizes 10000 --only embedded --publish both --repeat 5
                                                         # messages sent in kombu batches against one by one

`--publish both` measures intake with its range messages sent as the product sends them (`enqueue_ranges`:
kombu's `Producer.batch`, one transaction per batch on the embedded broker) and one by one through the same
producer (a commit per message on the embedded broker), in runs interleaved A, B, A, B, and prints the medians
and their ratio.

Files are ~2 KB PNGs, each different (a counter in a text chunk). Nothing is deleted before the end: ext4 skips
inodes freed in the last 60-300 s when it allocates one (`recently_deleted`), so creating files just after
deleting 100,000 ran several times slower (perf: a quarter of the CPU in ext4_create's scan), which had made
the stack measured after a deletion look slow. Keep about 1.5 GB free for 100,000 files. Redis and PostgreSQL are the
local servers
(PAGEMILL_TEST_REDIS_URL, PAGEMILL_TEST_POSTGRES_URL); a fresh schema and queue are used and dropped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_URL = os.environ.get("PAGEMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
POSTGRES_URL = os.environ.get("PAGEMILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_files(folder: Path, count: int, size: int = 2048) -> list[Path]:
    """`count` distinct PNGs of about `size` bytes (noise pixels, so they do not compress away)."""
    folder.mkdir(parents=True, exist_ok=True)
    width = 32
    raw = b"".join(b"\x00" + os.urandom(width) for _ in range(max(1, (size - 120) // (width + 1))))
    height = len(raw) // (width + 1)
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    tail = _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b"")
    paths = []
    for n in range(count):
        path = folder / f"scan-{n:06d}.png"
        path.write_bytes(head + _chunk(b"tEXt", b"n\x00" + str(n).encode()) + tail)
        paths.append(path)
    return paths


def bare_loop(files: list[Path], dest: Path) -> float:
    """Files/s of hashing while copying each file into a folder: the floor of the work intake must do."""
    dest.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as src, open(dest / path.name, "wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        digest.hexdigest()
    return len(files) / (time.perf_counter() - start)


def _status_latency(env: dict[str, str]) -> tuple[float, float]:
    """(in-process seconds for the totals and rows `pagemill status` prints, wall seconds of the command)."""
    from models.db import Database
    from scheduler.reports.status import list_documents
    from scheduler.reports.totals import totals

    db = Database.from_settings()
    start = time.perf_counter()
    totals(db)
    list_documents(db, None, 20, failing=True)
    list_documents(db, None, 20)
    inside = time.perf_counter() - start
    db.dispose()
    return inside, _command_s(env, "status")


def _command_s(env: dict[str, str], *args: str) -> float:
    """Wall seconds of `pagemill ARGS` as a user runs it (Python start-up included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def fill_synthetic(url: str, count: int, pages_each: int = 4) -> None:
    """`count` documents of `pages_each` pages, as a big backlog looks: 60% done, 25% queued, 5% running, 10%
    failed, pages stored over the last hour. Bulk inserts, so 100,000 documents take seconds, not an intake."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from models.db import Database
    from models.tables import Document, Page, PageRange

    db = Database(url)
    db.migrate()
    now = datetime.now(UTC)
    states = ["done"] * 12 + ["queued"] * 5 + ["running"] + ["failed"] * 2
    step = 5_000
    for first in range(0, count, step):
        docs, ranges, pages = [], [], []
        for n in range(first, min(count, first + step)):
            status = states[n % len(states)]
            docs.append({"id": n + 1, "sha256": hashlib.sha256(str(n).encode()).hexdigest(), "filename": f"s{n}.pdf",
                         "size_bytes": 2048, "page_count": pages_each, "status": status, "options": {},
                         "object_path": f"originals/00/{n}.pdf", "created_at": now, "updated_at": now,
                         "error": "boom" if status == "failed" else None})
            ranges.append({"document_id": n + 1, "seq": 1, "pages": list(range(pages_each)), "first_page": 0,
                           "last_page": pages_each - 1, "status": status, "attempts": 1, "created_at": now,
                           "updated_at": now})
            if status == "done":
                stored = now - timedelta(seconds=(n * 37) % 3600)
                pages += [{"document_id": n + 1, "page_index": p, "markdown": "text", "source": "bench",
                           "created_at": stored} for p in range(pages_each)]
        with db.write_session() as s:
            s.execute(insert(Document.__table__), docs)
            s.execute(insert(PageRange.__table__), ranges)
            s.execute(insert(Page.__table__), pages)
    db.dispose()


def status_only(count: int, work: Path) -> None:
    """`pagemill status` at `count` synthetic documents, on SQLite and PostgreSQL."""
    targets = [("sqlite", f"sqlite:///{work / 'status.sqlite'}", None)]
    pg = _postgres_schema()
    if pg is not None:
        targets.append(("postgresql", pg[0], pg[1]))
    for label, url, cleanup in targets:
        try:
            start = time.perf_counter()
            fill_synthetic(url, count)
            filled = time.perf_counter() - start
            env = dict(os.environ, PAGEMILL_DATABASE_URL=url, PAGEMILL_DATA_DIR=str(work / "status-data"),
                       PYTHONPATH=str(ROOT))
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                runs = [_status_latency(env) for _ in range(3)]
            finally:
                os.environ.clear()
                os.environ.update(saved)
            inside = min(r[0] for r in runs)
            wall = min(r[1] for r in runs)
            print(f"status at {count} documents ({count * 4} pages) on {label:<10}: queries {inside * 1000:.0f} ms,"
                  f" the whole command {wall:.2f} s (filled in {filled:.0f} s)", flush=True)
        finally:
            if cleanup is not None:
                _drop_schema(cleanup)


def run_size(label: str, files_dir: Path, work: Path, extra_env: dict[str, str],
             publish: str = "batch", status: bool = True) -> dict[str, float]:
    """One stack's intake of every file in `files_dir`, in a process of its own, as `pagemill submit` runs: a
    stack measured after another in the same process inherits its heap and its threads' history."""
    count = len(list(files_dir.iterdir()))
    data = work / f"data-{label}-{count}"
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), PYTHONPATH=str(ROOT), **extra_env)
    proc = subprocess.run([sys.executable, __file__, "--one", str(files_dir), "--publish", publish], env=env,
                          check=True, capture_output=True, text=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not status:
        return result
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        inside, wall = _status_latency(env)
        job_wall = _command_s(env, "status", "job:1")  # the intake's job: every document of this size is in it
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {**result, "status_s": inside, "status_cmd_s": wall, "job_cmd_s": job_wall}


def _send_one_by_one(range_ids: list[int]) -> None:
    """`enqueue_ranges` without `Producer.batch`: the same producer, queue and message, each sent on its own."""
    from worker.tasks.app import app
    from worker.tasks.ocr import ocr_range

    queue = app.amqp.queues[app.settings.queue]
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(queue)
        for range_id in range_ids:
            ocr_range.apply_async(args=[range_id], queue=queue, producer=producer, declare=[],
                                  argsrepr=f"[{range_id}]", kwargsrepr="{}")


def _one(files_dir: Path, publish: str) -> None:
    """The child of run_size: submit the files with the settings in the environment, print files/s and the
    one-time setup as JSON."""
    from models.db import Database
    from scheduler.launch.submit import submit

    files = sorted(files_dir.iterdir())
    # what only the first submit of a process on a new database pays, timed apart from the per-file work:
    # creating the schema (0.2-0.5 s) and loading Celery and the broker's client (0.3-0.5 s); at 1,000 files
    # that was a third of the time, and it does not grow with the number of files
    start = time.perf_counter()
    db = Database.from_settings()
    db.migrate()
    db.dispose()
    import worker.tasks.app  # Celery and the broker's client load inside the timed setup
    import worker.tasks.ocr

    if publish == "one-by-one":  # submit imports enqueue_ranges when it sends, so it finds this one
        worker.tasks.ocr.enqueue_ranges = _send_one_by_one
    setup = time.perf_counter() - start
    start = time.perf_counter()
    job = submit(files)
    elapsed = time.perf_counter() - start
    assert len(job.entries) == len(files) and not job.unreadable, job.unreadable[:3]
    print(json.dumps({"files_per_s": len(files) / elapsed, "setup_s": setup}))


def _postgres_schema() -> tuple[str, object] | None:
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_URL)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"  PostgreSQL not reachable ({type(exc).__name__}): skipped")
        return None
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}", (admin, schema)


def _drop_schema(handle: object) -> None:
    from sqlalchemy import text

    admin, schema = handle  # type: ignore[misc]
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _drop_queue(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    # kombu's exchange bindings of the queue too, or every run leaves two keys behind
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


def publish_ways(sizes: list[int], repeat: int, only: str | None) -> None:
    """Intake files/s with range messages sent in batches and one by one, runs interleaved, medians compared."""
    import statistics

    ways = ("batch", "one-by-one")
    print(f"intake of ~2 KB PNGs on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}), range messages"
          f" sent: {' / '.join(ways)}, {repeat} interleaved runs of each", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        for size in sizes:
            make_files(work / f"in-{size}", size)
            stacks: list[tuple[str, dict[str, str]]] = []
            if only != "production":
                stacks.append(("embedded", {}))
            if only != "embedded":
                stacks.append(("redis", {"PAGEMILL_BROKER_URL": REDIS_URL}))
            for label, env in stacks:
                rates: dict[str, list[float]] = {w: [] for w in ways}
                for n in range(repeat):
                    for way in ways:
                        queue = f"bench-intake-{uuid.uuid4().hex[:8]}"
                        r = run_size(f"{label}-{way}-{n}", work / f"in-{size}", work,
                                     {**env, "PAGEMILL_QUEUE": queue}, publish=way, status=False)
                        if label == "redis":
                            _drop_queue(queue)
                        rates[way].append(r["files_per_s"])
                        print(f"  {label:<9}{size:>7} files  run {n + 1}  {way:<11}{r['files_per_s']:>8.0f} files/s",
                              flush=True)
                med = {w: statistics.median(v) for w, v in rates.items()}
                print(f"{label} {size} files, median files/s: " + ", ".join(f"{w} {m:.0f}" for w, m in med.items())
                      + f"; batch / one-by-one {med['batch'] / med['one-by-one']:.2f}"
                      f" (intake time saved by batching {1 - med['one-by-one'] / med['batch']:.0%})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--s3", action="store_true", help="also measure intake into a bucket (moto, 127.0.0.1)")
    parser.add_argument("--only", choices=("embedded", "production"), help="one stack only")
    parser.add_argument("--publish", choices=("batch", "one-by-one", "both"), default="batch",
                        help="how intake sends its range messages; both: interleaved runs of each, with medians")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each way with --publish both (default 1)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # run_size's child process
    parser.add_argument("--status-docs", type=int, default=0,
                        help="only measure `pagemill status` at this many synthetic documents (both databases)")
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.publish)
        return
    if args.publish == "both":
        publish_ways([int(s) for s in args.sizes.split(",")], args.repeat, args.only)
        return
    if args.status_docs:
        with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
            status_only(args.status_docs, Path(tmp))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"intake of ~2 KB PNGs on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})", flush=True)
    print("files/s: intake on a database that exists; setup: what a first submit pays once before it (the schema,"
          " Celery and the broker client)")
    print(f"{'stack':<22}{'files':>8}{'files/s':>10}{'bare/s':>10}{'ratio':>7}{'us/file':>9}{'setup':>8}"
          f"{'status':>9}{'cmd':>8}{'job:1':>8}")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        moto = None
        if args.s3:
            from tests.fakes.s3_server import MotoS3, aws_env

            moto = MotoS3(work / "moto.log").start()
        try:
            for size in sizes:
                files = make_files(work / f"in-{size}", size)
                bare = bare_loop(files, work / f"bare-{size}")
                stacks: list[tuple[str, dict[str, str], object]] = []
                if args.only != "production":
                    stacks.append(("embedded", {}, None))
                if args.only != "embedded":
                    pg = _postgres_schema()
                    if pg is not None:
                        queue = f"bench-intake-{uuid.uuid4().hex[:8]}"
                        stacks.append(("redis+postgres", {"PAGEMILL_BROKER_URL": REDIS_URL,
                                                          "PAGEMILL_DATABASE_URL": pg[0],
                                                          "PAGEMILL_QUEUE": queue}, (pg[1], queue)))
                if moto is not None:
                    stacks.append(("embedded+s3", {**aws_env(moto.endpoint, work),
                                                  "PAGEMILL_OBJECTS_URL": f"s3://{moto.new_bucket()}/pm"}, None))
                for label, env, cleanup in stacks:
                    try:
                        r = run_size(label, work / f"in-{size}", work, env)
                    finally:
                        if cleanup is not None:
                            _drop_schema(cleanup[0])  # type: ignore[index]
                            _drop_queue(cleanup[1])  # type: ignore[index]
                    print(f"{label:<22}{size:>8}{r['files_per_s']:>10.0f}{bare:>10.0f}"
                          f"{r['files_per_s'] / bare:>7.2f}{1e6 / r['files_per_s']:>9.0f}{r['setup_s']:>7.2f}s"
                          f"{r['status_s'] * 1000:>7.0f}ms{r['status_cmd_s']:>7.2f}s{r['job_cmd_s']:>7.2f}s",
                          flush=True)
        finally:
            if moto is not None:
                moto.stop()


if __name__ == "__main__":
    main()
