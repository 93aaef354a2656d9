"""Pipeline overhead: the loopback server answers at once with no limit. Pages/s through the whole pipeline
(Redis broker, 4 `pagemill worker` processes x 8 threads, HTTP, results database, object folder) versus a bare
httpx loop with the same 32-way concurrency posting the same 8-page requests to the same server. The pipeline runs
twice: with the embedded SQLite results file and with PostgreSQL (the production setup; a throwaway schema).

    python bench/bench_mistral_overhead.py [--pages 1600] [--per-task 8] [--db sqlite|postgres|both]

Targets: ratio >= 0.5 and >= 100 pages/s through the pipeline on this 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import threading
import time

import httpx
import pypdfium2 as pdfium
from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema


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


def _pipeline(server: MistralServer, args: argparse.Namespace, database_url: str | None) -> tuple[str, float]:
    """Run the pipeline over one PDF; returns (summary line, pages/s)."""
    server.received.clear()
    pipe = Pipeline(server, args.processes, args.threads, {
        "PAGEMILL_RATE_LIMIT": "0", "PAGEMILL_MAX_INFLIGHT": "0",  # no limit configured
    }, database_url=database_url)
    try:
        pipe.submit_pdf(args.pages, args.per_task)
        stored, done, failed = pipe.wait_done(600)
        cpu_s = pipe.worker_cpu_s() - pipe.cpu_at_start
        finished = pipe.last_finished()
    finally:
        pipe.stop()
    first = min(r.at for r in server.received)
    pps = stored / (finished - first)
    line = (f"{stored} pages ({done} ranges done, {failed} failed) at {pps:.1f} pages/s; "
            f"worker CPU {1000 * cpu_s / max(1, done + failed):.1f} ms per range")
    return line, pps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1600)
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    results: dict[str, tuple[str, float]] = {}
    with MistralServer(api_key=KEY, extract_text=False) as server:
        if args.db in ("sqlite", "both"):
            results["SQLite"] = _pipeline(server, args, None)
        if args.db in ("postgres", "both"):
            with postgres_schema() as url:
                results["PostgreSQL"] = _pipeline(server, args, url)
        pdf = Pipeline.sample_pdf(args.pages)
        bare_pps = _bare(server, str(pdf), args.per_task, args.processes * args.threads,
                         args.pages // args.per_task)
    print(f"bare httpx loop, {args.processes * args.threads} threads: {bare_pps:.1f} pages/s")
    for name, (line, pps) in results.items():
        print(f"pipeline ({name} + Redis): {line}")
        print(f"ratio pipeline / bare ({name}) = {pps / bare_pps:.3f}")


if __name__ == "__main__":
    main()
