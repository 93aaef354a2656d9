"""The workload users have: a loopback /v1/ocr server that answers like the real API, slowly and rate-limited.

Each request takes 0.5-5 s, growing with the pages sent (0.5 s + 0.3 s per page, times a random factor of
0.5-1.5, capped at 5 s: an 8-page range takes ~1.7-4.1 s), and the server allows R requests/s (sliding 1 s
window, default 10) with a 429 and `Retry-After: 1` above it. 4 `pagemill worker` processes x 8 threads
(Redis broker, the shared Redis limiter set to R) OCR documents of 1-24 pages in ranges of 8 for about
`--seconds`; the results go to SQLite (embedded) or PostgreSQL (a throwaway schema).

    python bench/bench_mistral_realistic.py [--seconds 60] [--rate 10] [--db sqlite|postgres|both] [--rounds 1]

Prints, per run: pages/s through the pipeline, requests/s against R, the share of 429s, pages lost (must be 0)
and the CPU a range cost the workers, PostgreSQL and Redis. With 32 threads and ~2.9 s per 8-page request the
workers could send ~11 requests/s, so the limit R is what bounds the run: the pipeline's own CPU per range
(a few ms) is not. This is the benchmark that decided which of the pipeline's machinery stays (issue 20).

`PAGEMILL_BENCH_ENV="NAME=value,NAME2=value"` adds environment variables to the workers (for A/B runs of a
setting).

Measured (issue 20, 2 cores shared with other developers' tests, load average 8-13; 60 s runs, 582 ranges, 3382
pages, 0 lost): with the four mechanisms since removed (group commit, the kombu Redis transport subclass, CPU
pinning, PostgreSQL claims without WAL flush) 52.6-54.4 pages/s on SQLite and 51.5-54.2 on PostgreSQL; with each
one off, or all four off, 50.9-54.5 and 49.0-54.5 (three runs of 65 were slowed to 32-40 pages/s by the
machine's load, with and without the mechanisms alike). The simplified pipeline (one claim and store path): 52.3
pages/s on SQLite, 54.0 on PostgreSQL. No mechanism moved pages/s by 10 %; the workers' CPU per range, 8-17 ms,
is not what bounds the run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema, services_cpu_s

from scheduler.samples import make_born_digital_pdf

_DOC_PAGES = (8, 5, 16, 3, 12, 1, 24, 7, 9, 2)  # ranges of 8 pages and shorter tails


class RealisticServer(MistralServer):
    """MistralServer whose answers take as long as the real API's: longer for more pages, never under 0.5 s."""

    def __init__(self, rate_limit: float, seed: int = 20) -> None:
        super().__init__(api_key=KEY, rate_limit=rate_limit, extract_text=False)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def answer_latency_s(self, pages: int) -> float:
        with self._rng_lock:
            factor = self._rng.uniform(0.5, 1.5)
        return min(5.0, max(0.5, 0.5 + 0.3 * pages * factor))

    def _ocr(self, body: Any) -> Any:
        answer = super()._ocr(body)
        if answer[0] == 200:
            time.sleep(self.answer_latency_s(answer[3]))  # the answer's pages, counted by reading the request
        return answer


def _documents(folder: Path, ranges: int, per_task: int) -> list[Path]:
    """Documents cycling through _DOC_PAGES until they hold about `ranges` ranges; every one unique."""
    paths: list[Path] = []
    total = 0
    n = 0
    while total < ranges:
        pages = _DOC_PAGES[n % len(_DOC_PAGES)]
        path = folder / f"doc{n:04d}.pdf"
        make_born_digital_pdf(path, [f"Document {n}, page {i} of the realistic benchmark." for i in range(pages)])
        paths.append(path)
        total += -(-pages // per_task)
        n += 1
    return paths


def _extra_env() -> dict[str, str]:
    raw = os.environ.get("PAGEMILL_BENCH_ENV", "")
    return dict(item.split("=", 1) for item in raw.split(",") if "=" in item)


def run_once(args: argparse.Namespace, docs: list[Path], database_url: str | None) -> dict[str, float]:
    with RealisticServer(args.rate) as server:
        env = {
            "PAGEMILL_RATE_LIMIT": str(args.rate),
            "PAGEMILL_MAX_INFLIGHT": str(args.processes * args.threads),
            **_extra_env(),
        }
        pipe = Pipeline(server, args.processes, args.threads, env, database_url=database_url)
        try:
            from scheduler.launch.submit import submit

            submit(docs, pages_per_task=args.per_task)
            stored, done, failed = pipe.wait_done(args.seconds * 4 + 120)
            cpu_s = pipe.worker_cpu_s() - pipe.cpu_at_start
            services = {name: cpu - pipe.services_at_start[name] for name, cpu in services_cpu_s().items()}
            finished = pipe.last_finished()
        finally:
            pipe.stop()
        rec = list(server.received)
    expected = sum(_DOC_PAGES[i % len(_DOC_PAGES)] for i in range(len(docs)))
    ok = sorted(r.at for r in rec if r.status == 200)
    limited = sum(1 for r in rec if r.status == 429)
    span = finished - min(r.at for r in rec)
    ranges = max(1, done + failed)
    figures = {
        "pages_per_s": stored / span,
        "req_per_s": (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else float("nan"),
        "share_429": limited / max(1, len(rec)),
        "lost": expected - stored,
        "worker_ms": 1000 * cpu_s / ranges,
        **{f"{name}_ms": 1000 * cpu / ranges for name, cpu in services.items()},
    }
    print(f"  {stored} pages in {done} ranges ({failed} failed, {expected - stored} lost) over {span:.1f} s: "
          f"{figures['pages_per_s']:.1f} pages/s; {figures['req_per_s']:.2f} req/s / R {args.rate:g} = "
          f"{figures['req_per_s'] / args.rate:.3f}; 429s {figures['share_429']:.2%}; CPU per range: workers "
          f"{figures['worker_ms']:.1f} ms, " + ", ".join(f"{n} {1000 * c / ranges:.1f} ms" for n, c in services.items()),
          flush=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="about how long a run lasts")
    ap.add_argument("--rate", type=float, default=10.0, help="R, the server's limit (requests/s)")
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    folder = Path(Pipeline.sample_pdf(1).parent)
    # the limiter paces at 97 % of R: that many ranges take about --seconds
    docs = _documents(folder, int(args.rate * 0.97 * args.seconds), args.per_task)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    extra = _extra_env()
    print(f"{len(docs)} documents, {args.processes} processes x {args.threads} threads, R={args.rate:g}/s"
          + (f", workers' extra env {extra}" if extra else ""), flush=True)
    results: dict[str, list[dict[str, float]]] = {db: [] for db in dbs}
    for round_no in range(1, args.rounds + 1):
        for db in dbs:
            print(f"round {round_no}, {db}:", flush=True)
            if db == "sqlite":
                results[db].append(run_once(args, docs, None))
            else:
                with postgres_schema() as url:
                    results[db].append(run_once(args, docs, url))
    if args.rounds > 1:
        for db, runs in results.items():
            print(f"median {db}: {statistics.median(r['pages_per_s'] for r in runs):.1f} pages/s, "
                  f"{statistics.median(r['req_per_s'] for r in runs) / args.rate:.3f} of R, "
                  f"worker CPU {statistics.median(r['worker_ms'] for r in runs):.1f} ms per range")


if __name__ == "__main__":
    main()
