"""A soak under chaos (issue 39): the production shape on this machine, fed mixed work for `--minutes` while a
seeded fault schedule kills and cuts its parts, then drained and counted. Not a test: prints figures and exits
non-zero on any loss.

    PYTHONPATH=. python bench/soak.py --minutes 3 --seed 7            # faults on (the default)
    PYTHONPATH=. python bench/soak.py --minutes 60 --faults off       # the same load, no faults

What runs (everything on 127.0.0.1, everything stopped at the end, on Ctrl-C and on failure):
- PostgreSQL: a database of its own (`soak_<seed>_<pid>`, dropped after) reached through a loopback proxy that
  can cut every connection; a redis-server of its own on a spare port (no persistence: a restart loses the queue);
  moto's S3 server (a bucket of its own); the Mistral API fake (_soak_api.py) in this process.
- `pagemill worker` x 3 on two hosts (data folders host-a, host-b: two workers on a, one on b),
  `pagemill scheduler` on host-c watching `inbox/` (polling), and `pagemill submit` from host-d.
- A feeder: scans, born-digital PDFs, PNG/JPEG images, duplicates and bad files (corrupt, encrypted, empty),
  dropped in the watched folder (atomically or written slowly) or submitted, some with `--schema` or `--batch`.
- Faults (_soak_faults.py): kill -9 of a worker, of the scheduler; Redis restarted; PostgreSQL connections cut
  for 5-30 s; the bucket paused (SIGSTOP of moto) for up to a minute; the API answering only 429 or 503 for
  20-60 s. The supervisor restarts killed processes after 2 s.

The counts at the end come from the database (through a direct connection, not the proxy) and from the fake's
own billing log: each fed page has a size of its own, so the fake knows which fed page it billed (_soak_files.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from _soak_api import SoakApi
from _soak_faults import Fault, FaultRunner, plan_faults, sigcont, sigstop
from _soak_files import Fed, make_file, write_schema
from _soak_procs import RedisServer, Supervised, Supervisor
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from models.tables import Document, FieldsRow, Page, PageRange, Usage
from tests.e2e._proxy import CuttableProxy, free_port
from tests.fakes.s3_server import MotoS3, aws_env

KEY = "sk-soak-key"
PG_ADMIN = os.environ.get("PAGEMILL_SOAK_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_PORT = 5432
WORKERS = {"worker-a1": "host-a", "worker-a2": "host-a", "worker-b1": "host-b"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the run's settings ----------------------------------------------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    work: Path
    rng: random.Random
    db_name: str = ""
    db_url: str = ""  # through the proxy: what pagemill uses
    direct_url: str = ""  # the soak's own view
    env: dict[str, str] = field(default_factory=dict)
    fed: list[Fed] = field(default_factory=list)
    submit_failures: list[str] = field(default_factory=list)
    not_accepted: list[Fed] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (wall time, pages stored)
    fed_lock: threading.Lock = field(default_factory=threading.Lock)


def base_env(run: Run, redis_port: int, proxy_port: int, moto: MotoS3, bucket: str, api: SoakApi) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMILL_", "AWS_"))}
    env.update(aws_env(moto.endpoint, run.work))
    env.update({
        "PYTHONPATH": str(ROOT),
        "PAGEMILL_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PAGEMILL_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy_port}/{run.db_name}",
        "PAGEMILL_OBJECTS_URL": f"s3://{bucket}/pm",
        "PAGEMILL_OBJECTS_RETRIES": "2",
        "PAGEMILL_PROVIDER": "mistral",
        "PAGEMILL_OCR_BASE_URL": api.url,
        "MISTRAL_API_KEY": KEY,
        "PAGEMILL_RATE_LIMIT": str(run.args.rate),
        "PAGEMILL_MAX_INFLIGHT": "8",
        "PAGEMILL_PAGES_PER_TASK": "3",
        "PAGEMILL_REQUEST_TIMEOUT_S": "30",
        "PAGEMILL_LEASE_S": "30",
        "PAGEMILL_REQUEUE_AFTER_S": "30",
        "PAGEMILL_SWEEP_INTERVAL_S": "3",
        "PAGEMILL_RETRY_BASE_S": "1",
        "PAGEMILL_RETRY_MAX_S": "20",
        "PAGEMILL_MAX_ATTEMPTS": "6",
        "PAGEMILL_BATCH_MAX_WAIT_S": "15",
        "PAGEMILL_BATCH_POLL_MIN_S": "2",
        "PAGEMILL_BATCH_POLL_MAX_S": "8",
        "PAGEMILL_WATCH_POLLING": "true",
        "PAGEMILL_WATCH_SETTLE_S": "2",
        "PAGEMILL_WATCH_RESCAN_INTERVAL_S": "20",
        "PAGEMILL_LOG_FORMAT": "text",
    })
    return env


def pagemill_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scheduler.cli", *args]


# -- the feeder -------------------------------------------------------------------------------------------------
class Feeder:
    """Makes files and hands them over, until told to stop. Submits run one at a time in a thread of their own;
    a submit that fails (a fault) is tried again, as a user or a script would, up to 4 times."""

    KINDS = (("scan", 40), ("digital", 30), ("png", 8), ("jpeg", 7), ("dup", 6), ("corrupt", 3),
             ("encrypted", 3), ("empty", 3))

    def __init__(self, run: Run, inbox: Path, staging: Path, schema: Path, submit_host: Path) -> None:
        self.run, self.inbox, self.staging, self.schema, self.submit_host = run, inbox, staging, schema, submit_host
        self.rng = random.Random(run.rng.random())
        self.n = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="feeder", daemon=True)
        self.submit_thread: threading.Thread | None = None
        self.watch_fed: list[Fed] = []

    def _new(self) -> Fed:
        kind = self.rng.choices([k for k, _ in self.KINDS], [w for _, w in self.KINDS])[0]
        if kind == "dup" and self.watch_fed:
            orig = self.rng.choice(self.watch_fed)
            self.n += 1
            src = self.staging / orig.name
            name = f"soak-{self.n:05d}-dup-of-{orig.n:05d}{Path(orig.name).suffix}"
            shutil.copyfile(src, self.staging / name)
            return Fed(self.n, name, "dup", orig.pages, orig.sha256, expect=orig.expect, dup_of=orig.n,
                       keys=list(orig.keys))
        if kind == "dup":
            kind = "scan"
        self.n += 1
        pages = self.rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 12]) if kind in ("scan", "digital") else 1
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


# -- counting ---------------------------------------------------------------------------------------------------
def stored_pages(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Page)) or 0


def drained(run: Run, engine) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    shas = {f.sha256 for f in run.fed}
    with Session(engine) as s:
        docs = dict(s.execute(select(Document.sha256, Document.status)).all())
        open_ranges = s.scalar(select(func.count()).select_from(PageRange)
                               .where(PageRange.status.in_(["queued", "running"]))) or 0
    missing = [x for x in shas if x not in docs]
    unfinished = [x for x in shas if docs.get(x) in ("queued", "running")]
    ok = not missing and not unfinished and open_ranges == 0
    msg = (f"{len(missing)} fed files not registered, {len(unfinished)} documents unfinished, "
           f"{open_ranges} ranges queued/running")
    return ok, msg


def report(run: Run, engine, api: SoakApi, sup: Supervisor, redis_srv: RedisServer, faults: list[Fault],  # type: ignore[no-untyped-def]
           runner: FaultRunner | None, t_feed: tuple[float, float], drain_ok: bool, drain_msg: str,
           redis_peak: int) -> int:
    by_sha: dict[str, list[Fed]] = defaultdict(list)
    for f in run.fed:
        by_sha[f.sha256].append(f)
    with Session(engine) as s:
        docs = {d.sha256: d for d in s.scalars(select(Document))}
        pages = Counter(s.execute(select(Page.document_id, Page.page_index)).all())
        ledger = defaultdict(int)
        for doc_id, n in s.execute(select(Usage.document_id, func.sum(Usage.pages_processed))
                                   .where(Usage.kind.in_(["ocr", "annotation"])).group_by(Usage.document_id)).all():
            ledger[doc_id] = int(n or 0)
        stuck = s.execute(select(PageRange.status, func.count()).where(PageRange.status.in_(["queued", "running"]))
                          .group_by(PageRange.status)).all()
        fields = {(r.document_id) for r in s.scalars(select(FieldsRow).where(FieldsRow.status == "done"))}
        field_rows = {r.document_id: r for r in s.scalars(select(FieldsRow))}
    billed = api.billed()

    status = Counter()
    lost: list[str] = []
    unreadable: list[str] = []
    unexpected: list[str] = []
    fields_missing: list[str] = []
    ledger_over = 0
    for sha, feds in by_sha.items():
        first = feds[0]
        doc = docs.get(sha)
        if doc is None:
            lost.append(f"{first.name} ({first.how}): never registered")
            continue
        status[doc.status] += 1
        if doc.status in ("queued", "running"):
            lost.append(f"{first.name} doc {doc.id}: still {doc.status} after the drain")
            continue
        if doc.status in ("failed", "partial") and not (doc.error and doc.error.strip()):
            unreadable.append(f"{first.name} doc {doc.id}: {doc.status} without a reason")
        if first.expect == "done":
            got = {i for (d, i), _ in pages.items() if d == doc.id}
            if doc.status == "done" and len(got) != first.pages:
                lost.append(f"{first.name} doc {doc.id}: done with {len(got)} of {first.pages} pages")
            if doc.status != "done":
                unexpected.append(f"{first.name} doc {doc.id}: {doc.status} [{doc.error_code}] {doc.error}")
            if ledger[doc.id] > first.pages:
                ledger_over += ledger[doc.id] - first.pages
            if doc.status == "done" and any(f.how == "submit --schema" for f in feds) and doc.id not in fields:
                row = field_rows.get(doc.id)
                fields_missing.append(f"{first.name} doc {doc.id}: "
                                      + (f"fields {row.status} {row.error}" if row else "no fields row"))
        elif doc.status != "failed":
            unexpected.append(f"{first.name} doc {doc.id}: a bad file ended {doc.status}")
    stored_twice = sum(n - 1 for n in pages.values() if n > 1)

    # billing: the fake's log against the ledger
    expected_keys = {k for f in run.fed for k in f.keys}
    provider_twice = {k: n for k, n in billed.items() if n > 1}
    unknown_keys = [k for k in billed if k not in expected_keys]
    kills = [f.started for f in faults if f.kind == "kill_worker" and f.started]
    explained, unexplained = 0, []
    for k, n in sorted(provider_twice.items()):
        times = sorted(b.at for b in api.bills if k in b.keys)
        # a page billed, then its worker killed before it stored the answer: the provider bills it again
        near_kill = sum(1 for t in times[:-1] if any(0 <= kt - t <= 45 for kt in kills))
        explained += min(near_kill, n - 1)
        if n - 1 > near_kill:
            unexplained.append(f"page {k} billed {n}x at " + ", ".join(time.strftime('%H:%M:%S', time.localtime(t))
                                                                       for t in times))
    ledger_total = sum(ledger.values())
    # per file: pages the provider billed (its log) against the pages the ledger recorded
    unrecorded: list[str] = []
    for sha, feds in by_sha.items():
        doc = docs.get(sha)
        if doc is None or not feds[0].keys:
            continue
        at_provider = sum(billed.get(k, 0) for k in feds[0].keys)
        if at_provider > ledger[doc.id]:
            unrecorded.append(f"{feds[0].name} doc {doc.id}: provider billed {at_provider}, ledger {ledger[doc.id]}")
    provider_total = sum(billed.values())

    # throughput: before the first fault; from it to the end of feeding (faults on and off, recoveries);
    # the drain after feeding, every fault ended
    windows = runner.windows() if runner else []
    first_fault = min((a for a, _ in windows), default=None)
    phases: dict[str, list[float]] = {"before": [0, 0], "during": [0, 0], "after": [0, 0]}
    for (t1, p1), (t2, p2) in zip(run.timeline, run.timeline[1:]):
        mid = (t1 + t2) / 2
        phase = "after" if mid >= t_feed[1] else "before" if first_fault is None or mid < first_fault else "during"
        phases[phase][0] += p2 - p1
        phases[phase][1] += t2 - t1

    def rate(phase: str) -> str:
        pages_, secs = phases[phase]
        return f"{pages_ / secs:5.2f} pages/s over {secs:4.0f} s" if secs else "   -"

    print("\n" + "=" * 100)
    print(f"SOAK SUMMARY  seed {run.args.seed}  feeding {run.args.minutes} min  faults {run.args.faults}  "
          f"(a 2-core machine shared with other work: figures are from a loaded machine)")
    print("=" * 100)
    kinds = Counter(f.kind for f in run.fed)
    hows = Counter(f.how for f in run.fed)
    print(f"files fed            {len(run.fed)} ({len(by_sha)} distinct contents)  "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("  by way             " + ", ".join(f"{k} {v}" for k, v in sorted(hows.items())))
    if run.not_accepted:
        print(f"  never accepted     {len(run.not_accepted)} (submit failed every time: the user was told)")
    print(f"  submit retries     {len(run.submit_failures)}")
    print("documents            " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    failed_ok = sum(1 for sha, feds in by_sha.items() if feds[0].expect == "failed" and docs.get(sha) is not None
                    and docs[sha].status == "failed" and docs[sha].error)
    print(f"  bad files failed with a readable reason: {failed_ok}")
    print(f"  LOST               {len(lost)}")
    for x in lost[:20]:
        print(f"    - {x}")
    print(f"  good files not done (failed/partial, readable, but every fault was temporary): {len(unexpected)}")
    for x in unexpected[:10]:
        print(f"    - {x}")
    print(f"  failed without a reason: {len(unreadable)}")
    for x in unreadable[:10]:
        print(f"    - {x}")
    print(f"pages stored twice   {stored_twice}")
    print(f"pages billed         provider {provider_total} (sync+batch), ledger {ledger_total}, "
          f"fed good pages {len(expected_keys)}")
    print(f"  billed twice by the provider: {sum(n - 1 for n in provider_twice.values())} "
          f"({explained} right after a kill -9 of a worker, {len(unexplained)} pages unexplained)")
    for x in unexplained[:10]:
        print(f"    - {x}")
    print(f"  recorded twice in the ledger (over the page count): {ledger_over}")
    print(f"  files billed by the provider beyond the ledger (answers paid for, not recorded): {len(unrecorded)}")
    for x in unrecorded[:10]:
        print(f"    - {x}")
    if unknown_keys:
        print(f"  billed pages the feeder never fed: {len(unknown_keys)} e.g. {unknown_keys[:5]}")
    print("ranges stuck         " + (", ".join(f"{st} {n}" for st, n in stuck) or "0")
          + f"  (drain: {'ok' if drain_ok else 'TIMED OUT'}; {drain_msg})")
    print(f"fields missing       {len(fields_missing)}")
    for x in fields_missing[:10]:
        print(f"    - {x}")
    print("faults injected      " + (", ".join(f"{k} {v}" for k, v in
                                              sorted(Counter(f.kind for f in faults if f.started).items())) or "none"))
    print("API answers          " + ", ".join(f"{k} {v}" for k, v in sorted(api.status_counts.items()))
          + f"; batch jobs {len(api.jobs)}")
    print("peak RSS             " + ", ".join(f"{p.name} {p.peak_rss_kb / 1024:.0f} MB" for p in sup.procs.values())
          + f", redis {redis_peak / 1024:.0f} MB")
    print("restarts             " + ", ".join(f"{p.name} {p.starts - 1} (killed {p.deaths}, crashed {p.crashes})"
                                               for p in sup.procs.values()) + f", redis {redis_srv.restarts}")
    print(f"throughput           before faults {rate('before')}; while faults came {rate('during')}; "
          f"drain after them {rate('after')}")
    print(f"logs                 {run.work}")
    problems = len(lost) + stored_twice + len(unexplained) + ledger_over + sum(n for _, n in stuck) \
        + len(unreadable) + len(fields_missing) + len(unexpected)
    verdict = "PASS" if problems == 0 and drain_ok else "FAIL"
    print(f"verdict              {verdict}")
    (run.work / "fed.json").write_text(json.dumps([f.to_json() for f in run.fed], indent=1))
    (run.work / "faults.json").write_text(json.dumps([f.__dict__ for f in faults], indent=1))
    return 0 if verdict == "PASS" else 1


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
    feeder: Feeder | None = None
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
        run.env = base_env(run, redis_srv.port, proxy.port, moto, bucket, api)
        run.db_url = run.env["PAGEMILL_DATABASE_URL"]
        done = subprocess.run(pagemill_cmd("migrate"), env=dict(run.env, PAGEMILL_DATA_DIR=str(hosts["host-c"])),
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pagemill migrate failed: {done.stdout}{done.stderr}")
        engine = create_engine(run.direct_url, pool_pre_ping=True)

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

        assert proxy is not None
        actions = {
            "kill_worker": (lambda f: sup.kill9(f.detail), None),
            "kill_scheduler": (lambda f: sup.kill9("scheduler"), None),
            "redis_restart": (redis_down, redis_up),
            "pg_cut": (lambda f: proxy.cut(), lambda f: proxy.restore()),
            "bucket_pause": (bucket_pause, bucket_resume),
            "api_outage": (outage_on, outage_off),
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
        sup.sample()
        stopped.set()
        run.timeline.append((time.time(), stored_pages(engine)))
        return report(run, engine, api, sup, redis_srv, faults, runner, (t_start, t_feed_end), ok, msg, redis_peak)
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
        if moto.proc is not None:
            sigcont(moto.proc.pid)
        moto.stop()
        redis_srv.stop()
        if proxy is not None:
            proxy.close()
        if api is not None:
            api.stop()
        if engine is not None:
            engine.dispose()
        if created_db and not os.environ.get("PAGEMILL_SOAK_KEEP_DB"):
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{run.db_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
