"""Pipeline overhead: the loopback server answers at once with no limit. Pages/s through the whole pipeline
(Redis broker, `pagemill worker` processes with a threads pool, HTTP, results database, object folder) versus a
bare httpx loop with the same 32-way concurrency posting the same 8-page requests to the same server.

The pipeline runs in two layouts of 32 threads: 4 processes x 8 threads (bench_mistral_ratelimit.py's layout)
and 2 processes x 16 threads (one process per core of this 2-core machine), each with the embedded SQLite
results file and with PostgreSQL (the production setup; a throwaway schema). The bare loop runs before and after
them and the ratio uses the mean of the two, so that the load of this shared machine drifting during the run
moves both sides alike. 8000 pages make each pipeline run last ~5 s, past the first seconds of warm-up.

    python bench/bench_mistral_overhead.py [--pages 8000] [--per-task 8] [--db sqlite|postgres|both]
                                           [--layouts 4x8,2x16]

Targets: ratio >= 0.5 and >= 100 pages/s through the pipeline on this 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import threading
import time
from pathlib import Path

import httpx
import pypdfium2 as pdfium
from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema, services_cpu_s


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


def _pipeline(
    server: MistralServer, pdf: Path, args: argparse.Namespace, layout: tuple[int, int], database_url: str | None
) -> tuple[str, float]:
    """Run the pipeline over one PDF; returns (summary line, pages/s)."""
    server.received.clear()
    processes, threads = layout
    pipe = Pipeline(server, processes, threads, {
        "PAGEMILL_RATE_LIMIT": "0", "PAGEMILL_MAX_INFLIGHT": "0",  # no limit configured
    }, database_url=database_url)
    try:
        pipe.submit_file(pdf, args.per_task)
        stored, done, failed = pipe.wait_done(600)
        cpu_s = pipe.worker_cpu_s() - pipe.cpu_at_start
        services = {name: cpu - pipe.services_at_start[name] for name, cpu in services_cpu_s().items()}
        finished = pipe.last_finished()
    finally:
        pipe.stop()
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
    ap.add_argument("--layouts", default="4x8,2x16", help="processes x threads, comma-separated")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    concurrency = {p * t for p, t in layouts}
    if len(concurrency) != 1:
        raise SystemExit("every layout must have the same number of threads (the bare loop's concurrency)")
    threads = concurrency.pop()
    results: dict[str, tuple[str, float]] = {}
    pdf = Pipeline.sample_pdf(args.pages)
    requests = args.pages // args.per_task
    with MistralServer(api_key=KEY, extract_text=False) as server:
        bare_before = _bare(server, str(pdf), args.per_task, threads, requests)
        for processes, per_process in layouts:
            name = f"{processes}x{per_process}"
            if args.db in ("sqlite", "both"):
                results[f"{name}, SQLite"] = _pipeline(server, pdf, args, (processes, per_process), None)
            if args.db in ("postgres", "both"):
                with postgres_schema() as url:
                    results[f"{name}, PostgreSQL"] = _pipeline(server, pdf, args, (processes, per_process), url)
        bare_after = _bare(server, str(pdf), args.per_task, threads, requests)
    bare_pps = (bare_before + bare_after) / 2
    print(f"bare httpx loop, {threads} threads: {bare_before:.1f} pages/s before, {bare_after:.1f} after, "
          f"mean {bare_pps:.1f}")
    for name, (line, pps) in results.items():
        print(f"pipeline ({name} + Redis): {line}")
        print(f"  ratio pipeline / bare = {pps / bare_pps:.3f}")


if __name__ == "__main__":
    main()
