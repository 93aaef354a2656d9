"""A soak under chaos (issue 39): the production shape on this machine, fed mixed work for `--minutes` while a
seeded fault schedule kills and cuts its parts, then drained and counted. Not a test: prints figures and exits
non-zero on any loss.

    PYTHONPATH=. python bench/soak.py --minutes 3 --seed 7            # faults on (the default)
    PYTHONPATH=. python bench/soak.py --minutes 60 --faults off       # the same load, no faults

What runs (everything on 127.0.0.1, everything stopped at the end, on Ctrl-C and on failure):
- PostgreSQL: a database of its own (`soak_<seed>_<pid>`, dropped after) reached through a loopback proxy that
  can cut every connection; a redis-server of its own on a spare port (no persistence: a restart loses the queue);
  moto's S3 server (a bucket of its own); the Mistral API fake (_soak_api.py) and a webhook receiver
  (_soak_hooks.py, subscribed through PAGEMILL_WEBHOOK_URL) in this process.
- `pagemill worker` x 3 on two hosts (data folders host-a, host-b: two workers on a, one on b),
  `pagemill scheduler` on host-c watching `inbox/` (polling), and `pagemill submit` from host-d.
- A feeder: scans, born-digital PDFs, PNG/JPEG images, duplicates and bad files (corrupt, encrypted, empty),
  dropped in the watched folder (atomically or written slowly) or submitted, some with `--schema` or `--batch`.
- Faults (_soak_faults.py): kill -9 of a worker, of the scheduler, of the scheduler while a large file is being
  copied slowly into the watched folder; Redis restarted; PostgreSQL connections cut for 5-30 s; the bucket
  paused (SIGSTOP of moto) for up to a minute; the API answering only 429 or 503 for 20-60 s; host-b's cache of
  originals (a 48 MB tmpfs: needs root, skipped otherwise with the reason) filled for 15-60 s; the webhook
  receiver dropping every request for 30-70 s. The supervisor restarts killed processes after 2 s.

The counts at the end come from the database (through a direct connection, not the proxy) and from the fake's
own billing log: each fed page has a size of its own, so the fake knows which fed page it billed (_soak_files.py).

The parts, beside this file: _soak_setup.py (the run's settings and environment), _soak_procs.py (Redis, the
supervisor), _soak_api.py (the API fake), _soak_files.py (the files), _soak_feeder.py, _soak_faults.py (the
schedule), _soak_report.py (the count and the summary).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from _soak_api import SoakApi
from _soak_faults import Fault, FaultRunner, plan_faults, sigcont, sigstop
from _soak_feeder import Feeder
from _soak_files import write_schema
from _soak_hooks import HookReceiver
from _soak_procs import RedisServer, SmallDisk, Supervised, Supervisor
from _soak_report import drained, events_missing, report, stored_pages
from _soak_setup import KEY, PG_ADMIN, PG_PORT, WORKERS, Run, base_env, log, pagemill_cmd
from sqlalchemy import create_engine, text

from tests.e2e._proxy import CuttableProxy, free_port
from tests.fakes.s3_server import MotoS3


# -- the run ----------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="replays a run's schedule and files (printed)")
    ap.add_argument("--minutes", type=float, default=3.0, help="minutes of feeding (faults during them)")
    ap.add_argument("--drain-minutes", type=float, default=None, help="longest wait after feeding [max(3, 1/2 of "
                    "--minutes)]")
    ap.add_argument("--faults", choices=["on", "off"], default="on")
    ap.add_argument("--rate", type=float, default=6.0, help="the fake API's rate limit, requests/s [6]")
    ap.add_argument("--feed-rate", type=float, default=1.0, help="feeding speed factor [1: a file every ~2 s]")
    ap.add_argument("--concurrency", type=int, default=4, help="threads per worker [4]")
    ap.add_argument("--work", type=Path, default=None, help="folder for hosts and logs [a temporary one, kept]")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    drain_s = 60 * (args.drain_minutes if args.drain_minutes is not None else max(3.0, args.minutes / 2))
    for tool in ("redis-server",):
        if shutil.which(tool) is None:
            print(f"soak: {tool} is not on PATH", file=sys.stderr)
            return 2
    work = args.work or Path(tempfile.mkdtemp(prefix=f"pagemill-soak-{args.seed}-"))
    work.mkdir(parents=True, exist_ok=True)
    run = Run(args, work, random.Random(args.seed))
    log(f"soak seed {args.seed}, {args.minutes} min of feeding, faults {args.faults}; work folder {work}")

    hosts = {h: work / h for h in ("host-a", "host-b", "host-c", "host-d")}
    for h in hosts.values():
        h.mkdir(exist_ok=True)
    inbox, staging = work / "inbox", work / "staging"
    inbox.mkdir(exist_ok=True)
    staging.mkdir(exist_ok=True)
    schema = write_schema(work)

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    run.db_name = f"soak_{args.seed}_{os.getpid()}"
    sup = Supervisor()
    redis_srv = RedisServer(free_port(), work / "redis.log")
    moto = MotoS3(work / "moto.log")
    proxy: CuttableProxy | None = None
    api: SoakApi | None = None
    hooks: HookReceiver | None = None
    feeder: Feeder | None = None
    disk = SmallDisk(hosts["host-b"] / "cache")
    runner: FaultRunner | None = None
    engine = None
    created_db = False
    stopped = threading.Event()
    redis_peak = 0

    def on_term(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{run.db_name}"'))
        created_db = True
        run.direct_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{run.db_name}"
        redis_srv.start()
        moto.start()
        bucket = moto.new_bucket()
        proxy = CuttableProxy(PG_PORT)
        api = SoakApi(KEY, args.seed, rate_limit=args.rate, latency=(0.3, 2.5), p_5xx=0.02, queue_s=5.0,
                      run_s=20.0).start()
        hooks = HookReceiver().start()
        run.env = base_env(run, redis_srv.port, proxy.port, moto, bucket, api, hooks)
        run.db_url = run.env["PAGEMILL_DATABASE_URL"]
        done = subprocess.run(pagemill_cmd("migrate"), env=dict(run.env, PAGEMILL_DATA_DIR=str(hosts["host-c"])),
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pagemill migrate failed: {done.stdout}{done.stderr}")
        engine = create_engine(run.direct_url, pool_pre_ping=True)

        # host-b's object cache on a small tmpfs, for the disk_full fault (workers download originals there)
        if args.faults == "on" and not disk.mount():
            log(f"disk_full faults skipped: {disk.why_not}")
        for name, host in WORKERS.items():
            sup.add(Supervised(name, pagemill_cmd("worker", "--concurrency", str(args.concurrency), "--pool",
                                                  "threads"),
                               dict(run.env, PAGEMILL_DATA_DIR=str(hosts[host])), work / f"{name}.log"))
        sup.add(Supervised("scheduler", pagemill_cmd("scheduler"),
                           dict(run.env, PAGEMILL_DATA_DIR=str(hosts["host-c"]), PAGEMILL_WATCH_DIRS=str(inbox)),
                           work / "scheduler.log"))
        sup.begin()

        faults = plan_faults(random.Random(args.seed * 7919 + 1), args.minutes * 60, list(WORKERS)) \
            if args.faults == "on" else []
        log(f"fault schedule ({len(faults)}):" + "".join(f"\n    {f.describe()}" for f in faults))

        def redis_down(f: Fault) -> None:
            redis_srv.stop(kill=True)

        def redis_up(f: Fault) -> None:
            redis_srv.start()
            redis_srv.restarts += 1

        def bucket_pause(f: Fault) -> None:
            assert moto.proc is not None
            sigstop(moto.proc.pid)

        def bucket_resume(f: Fault) -> None:
            assert moto.proc is not None
            sigcont(moto.proc.pid)

        def outage_on(f: Fault) -> None:
            assert api is not None
            api.outage = int(f.detail)

        def outage_off(f: Fault) -> None:
            assert api is not None
            api.outage = None

        def watcher_midcopy(f: Fault) -> None:
            assert feeder is not None
            threading.Thread(target=feeder.copy_slowly_and_kill, args=(lambda: sup.kill9("scheduler"),),
                             name="midcopy", daemon=True).start()

        def disk_fill(f: Fault) -> None:
            if not disk.mounted:
                raise RuntimeError(disk.why_not or "no small disk")
            disk.fill()

        assert proxy is not None
        actions = {
            "kill_worker": (lambda f: sup.kill9(f.detail), None),
            "kill_scheduler": (lambda f: sup.kill9("scheduler"), None),
            "redis_restart": (redis_down, redis_up),
            "pg_cut": (lambda f: proxy.cut(), lambda f: proxy.restore()),
            "bucket_pause": (bucket_pause, bucket_resume),
            "api_outage": (outage_on, outage_off),
            "kill_watcher_midcopy": (watcher_midcopy, None),
            "disk_full": (disk_fill, lambda f: disk.free()),
            "receiver_away": (lambda f: setattr(hooks, "away", True), lambda f: setattr(hooks, "away", False)),
        }
        runner = FaultRunner(faults, actions, log)

        def sample() -> None:
            while not stopped.wait(5):
                try:
                    run.timeline.append((time.time(), stored_pages(engine)))
                except Exception as exc:
                    log(f"sampler: {exc}")

        feeder = Feeder(run, inbox, staging, schema, hosts["host-d"])
        time.sleep(3)  # the workers import pagemill
        t_start = time.time()
        run.timeline.append((t_start, stored_pages(engine)))
        threading.Thread(target=sample, name="sampler", daemon=True).start()
        feeder.thread.start()
        runner.start(t_start)
        deadline = t_start + args.minutes * 60
        while time.time() < deadline:
            time.sleep(min(30, max(0.1, deadline - time.time())))
            redis_peak = max(redis_peak, redis_srv.peak_rss_kb())
            ok, msg = drained(run, engine)
            log(f"feeding: {len(run.fed)} files fed, {stored_pages(engine)} pages stored; {msg}")
        feeder.finish()
        runner.stop()
        t_feed_end = time.time()
        log(f"feeding over: {len(run.fed)} files; every fault ended; draining for up to {drain_s / 60:.0f} min")
        drain_deadline = time.time() + drain_s
        ok, msg = drained(run, engine)
        while not ok and time.time() < drain_deadline:
            time.sleep(5)
            redis_peak = max(redis_peak, redis_srv.peak_rss_kb())
            ok, msg = drained(run, engine)
            log(f"draining: {msg}")
        if ok:
            time.sleep(8)  # late batch answers, sweeps: anything that would still move, moves
            # events held back while the receiver was away: retried every <= 15 s
            events_deadline = time.time() + 90
            while events_missing(run, engine, hooks) and time.time() < events_deadline:
                time.sleep(3)
        sup.sample()
        stopped.set()
        run.timeline.append((time.time(), stored_pages(engine)))
        return report(run, engine, api, sup, redis_srv, faults, runner, (t_start, t_feed_end), ok, msg, redis_peak,
                      hooks)
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        stopped.set()
        if feeder is not None:
            feeder.stop.set()
        if runner is not None:
            runner.stop()
        sup.stop_all()
        disk.unmount()
        if moto.proc is not None:
            sigcont(moto.proc.pid)
        moto.stop()
        redis_srv.stop()
        if proxy is not None:
            proxy.close()
        if api is not None:
            api.stop()
        if hooks is not None:
            hooks.stop()
        if engine is not None:
            engine.dispose()
        if created_db and not os.environ.get("PAGEMILL_SOAK_KEEP_DB"):
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{run.db_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
