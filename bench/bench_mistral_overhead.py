"""Pipeline overhead: the loopback server answers at once with no limit. Pages/s through the whole pipeline
(Redis broker, `pagemill worker` processes with a threads pool, HTTP, results database, object folder) versus a
bare httpx loop with the same number of threads posting the same 8-page requests to the same server.

Layouts (processes x threads), each with the embedded SQLite results file and with PostgreSQL (the production
setup; a throwaway schema):
- 1 x 8: what `pagemill worker` starts for an HTTP provider by default (8 threads), against a bare loop of 8;
- 4 x 8: bench_mistral_ratelimit.py's layout, and 2 x 16 (one process per core), against a bare loop of 32.
At 32 threads both sides are CPU-bound on this 2-core machine: the bare loop shares one process (one GIL) with the
server, the pipeline spends its CPU per range (printed) on Celery, the database and the request. The bare loops
run before and after each round and a run's ratio uses the mean of the two, so that the load of this shared
machine drifting moves both sides alike. 8000 pages make each pipeline run last ~5 s; the workers are started
and answering a ping before the pages are submitted. A single run says little on a shared 2-core machine (the
same code has given 0.36 and 0.61 minutes apart), so the whole sequence runs in rounds and the median counts.

Each run also prints the CPU it cost per range: the worker processes', PostgreSQL's backends' (PostgreSQL runs on
the same 2 cores here) and Redis's. bench_range_stages.py splits the workers' share by stage.

    python bench/bench_mistral_overhead.py [--pages 8000] [--per-task 8] [--db sqlite|postgres|both]
                                           [--layouts 1x8,4x8,2x16] [--rounds 3] [--worker-cpu auto|off]

The workers run with PAGEMILL_WORKER_CPU=auto (each worker process pinned to one CPU, in turn; worker/cpu_affinity.py)
unless --worker-cpu off: on this 2-core machine a 1 x 8 worker then spends ~35 % less CPU per range; 4 x 8
(two processes per CPU) does not gain. Pinning helps a bare loop too (its client and server threads hand the GIL
over as well), so with pinned workers the bare loop also runs a second time with this whole process on one CPU,
and both ratios are printed.

"Instant" means instant: the loopback server sets TCP_NODELAY. Before it did, every answer waited ~40 ms for the
client's delayed ACK (headers and body in two writes), the bare loop at 8 threads was bound by that latency
(~180 requests/s) rather than by CPU, and this benchmark overstated the ratio at 8 threads (0.7-0.86, now ~0.4
unpinned). Now the bare loop is CPU-bound at every concurrency (client and server share its process's GIL):
about as fast with 1 thread as with 32.

Targets: ratio >= 0.5 and >= 100 pages/s through the pipeline on this 2-core machine.

Measured with the group commit of claims and stores (worker/group_commit.py) and PostgreSQL claims that do not
wait for the WAL flush, 3 rounds, medians against the bare loop / against the bare loop on one CPU: 1 x 8
SQLite 0.548 / 0.432, PostgreSQL 0.546 / 0.427; 4 x 8 SQLite 0.621 / 0.533, PostgreSQL 0.507 / 0.436; 2 x 16
SQLite 0.719 / 0.605, PostgreSQL 0.583 / 0.493 (before both, at the start of the same session, when this
machine was ~25 % faster: 0.508 / 0.381, 0.425 / 0.317, 0.507 / 0.413, 0.398 / 0.324, 0.570 / 0.461, 0.480 /
0.392). PostgreSQL runs on the same 2 cores here (~1 ms of its CPU per range, printed).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pypdfium2 as pdfium
from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema, services_cpu_s

from worker.cpu_affinity import pin_all_threads


@contextmanager
def _whole_process_on_one_cpu() -> Iterator[None]:
    """Every thread of this process (the loopback server's too) on one CPU, as PAGEMILL_WORKER_CPU pins a worker:
    the bare loop gains from it as well, so the pipeline pinned is also compared with the bare loop pinned."""
    allowed = os.sched_getaffinity(0)
    pin_all_threads({min(allowed)})
    try:
        yield
    finally:
        pin_all_threads(allowed)


def _bare(server: MistralServer, pdf_path: str, per_task: int, concurrency: int, requests: int) -> float:
    src = pdfium.PdfDocument(pdf_path)
    small = pdfium.PdfDocument.new()
    small.import_pages(src, list(range(per_task)))
    buf = io.BytesIO()
    small.save(buf)
    body = json.dumps({"model": "mistral-ocr-latest", "include_image_base64": True, "document": {
        "type": "document_url", "document_url": "data:application/pdf;base64," + base64.b64encode(buf.getvalue()).decode()
    }}).encode()
    counter = iter(range(requests))
    lock = threading.Lock()
    client = httpx.Client(limits=httpx.Limits(max_connections=concurrency))

    def work() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            r = client.post(server.url + "/v1/ocr", content=body,
                            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            assert len(r.json()["pages"]) == per_task

    started = time.monotonic()
    pool = [threading.Thread(target=work) for _ in range(concurrency)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return requests * per_task / (time.monotonic() - started)


@dataclass
class Run:
    pages_per_s: float
    ratio: float
    line: str
    ratio_to_pinned: float | None = None


def _pipeline(
    server: MistralServer, pdf: Path, args: argparse.Namespace, layout: tuple[int, int], database_url: str | None
) -> tuple[str, float]:
    """Run the pipeline over one PDF; returns (summary line, pages/s)."""
    server.received.clear()
    processes, threads = layout
    pipe = Pipeline(server, processes, threads, {
        "PAGEMILL_RATE_LIMIT": "0", "PAGEMILL_MAX_INFLIGHT": "0",  # no limit configured
        "PAGEMILL_WORKER_CPU": args.worker_cpu,
    }, database_url=database_url)
    try:
        pipe.submit_file(pdf, args.per_task)
        stored, done, failed = pipe.wait_done(600)
        cpu_s = pipe.worker_cpu_s() - pipe.cpu_at_start
        services = {name: cpu - pipe.services_at_start[name] for name, cpu in services_cpu_s().items()}
        finished = pipe.last_finished()
    finally:
        pipe.stop()
    if not server.received:
        raise SystemExit(f"no request reached the server: {stored} pages stored, {failed} ranges failed (see the "
                         f"workers' logs in {pipe.tmp})")
    first = min(r.at for r in server.received)
    pps = stored / (finished - first)
    ranges = max(1, done + failed)
    line = (f"{stored} pages ({done} ranges done, {failed} failed) at {pps:.1f} pages/s; CPU per range: "
            f"workers {1000 * cpu_s / ranges:.1f} ms, "
            + ", ".join(f"{name} {1000 * cpu / ranges:.1f} ms" for name, cpu in services.items()))
    return line, pps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=8000)
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--layouts", default="1x8,4x8,2x16", help="processes x threads, comma-separated")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every layout and database; the median counts")
    ap.add_argument("--worker-cpu", default="auto", help="PAGEMILL_WORKER_CPU of the workers: auto (each worker "
                    "process on one CPU, in turn) or off")
    args = ap.parse_args()
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    concurrencies = sorted({p * t for p, t in layouts})
    pdf = Pipeline.sample_pdf(args.pages)
    requests = args.pages // args.per_task
    runs: dict[str, list[Run]] = {}
    # the bare loop at each layout's concurrency (its number of threads), before the first round and after each
    bare: dict[int, list[float]] = {n: [] for n in concurrencies}
    # and the same bare loop with this whole process on one CPU, when the workers are pinned
    pinned: dict[int, list[float]] = {n: [] for n in concurrencies}
    pin = args.worker_cpu.strip().lower() not in ("", "off", "none")

    def bare_loops(server: MistralServer) -> None:
        for n in concurrencies:
            bare[n].append(_bare(server, str(pdf), args.per_task, n, requests))
            if pin:
                with _whole_process_on_one_cpu():
                    pinned[n].append(_bare(server, str(pdf), args.per_task, n, requests))

    with MistralServer(api_key=KEY, extract_text=False) as server:
        bare_loops(server)
        for round_no in range(1, args.rounds + 1):
            done: list[tuple[str, int, str, float]] = []
            for processes, per_process in layouts:
                name = f"{processes}x{per_process}"
                threads = processes * per_process
                if args.db in ("sqlite", "both"):
                    done.append((f"{name}, SQLite", threads,
                                 *_pipeline(server, pdf, args, (processes, per_process), None)))
                if args.db in ("postgres", "both"):
                    with postgres_schema() as url:
                        done.append((f"{name}, PostgreSQL", threads,
                                     *_pipeline(server, pdf, args, (processes, per_process), url)))
            bare_loops(server)
            print(f"round {round_no}: bare httpx loop, pages/s before and after: " + "; ".join(
                f"{n} threads {bare[n][-2]:.1f}, {bare[n][-1]:.1f}" for n in concurrencies))
            if pin:
                print("  the same, on one CPU: " + "; ".join(
                    f"{n} threads {pinned[n][-2]:.1f}, {pinned[n][-1]:.1f}" for n in concurrencies))
            for name, threads, line, pps in done:
                # the bare loop just before and just after this round: the load of this shared machine drifts
                bare_pps = (bare[threads][-2] + bare[threads][-1]) / 2
                run = Run(pps, pps / bare_pps, line)
                extra = ""
                if pin:
                    run.ratio_to_pinned = pps / ((pinned[threads][-2] + pinned[threads][-1]) / 2)
                    extra = f", {run.ratio_to_pinned:.3f} to the bare loop on one CPU"
                runs.setdefault(name, []).append(run)
                print(f"  pipeline ({name} + Redis): {line}; ratio {pps / bare_pps:.3f}{extra}")
    print()
    for n in concurrencies:
        print(f"bare httpx loop, {n} threads: median {statistics.median(bare[n]):.1f} pages/s "
              f"({min(bare[n]):.1f}-{max(bare[n]):.1f}, {len(bare[n])} runs)")
        if pin:
            print(f"bare httpx loop on one CPU, {n} threads: median {statistics.median(pinned[n]):.1f} pages/s "
                  f"({min(pinned[n]):.1f}-{max(pinned[n]):.1f}, {len(pinned[n])} runs)")
    for name, results in runs.items():
        ratios = [r.ratio for r in results]
        print(f"pipeline ({name} + Redis): median {statistics.median(r.pages_per_s for r in results):.1f} pages/s, "
              f"ratio pipeline / bare loop at the same concurrency: median {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} rounds)")
        to_pinned = [r.ratio_to_pinned for r in results if r.ratio_to_pinned is not None]
        if to_pinned:
            print(f"  ... and / the bare loop on one CPU: median {statistics.median(to_pinned):.3f} "
                  f"({min(to_pinned):.3f}-{max(to_pinned):.3f})")


if __name__ == "__main__":
    main()
