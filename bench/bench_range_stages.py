"""Where a worker's CPU goes for one 8-page range, stage by stage, without Celery and without the noise of a
loaded machine: each stage runs alone in one thread and is timed with that thread's CPU clock
(`time.thread_time`), so the loopback server's work (other threads) and waiting on sockets are not counted.

    python bench/bench_range_stages.py [--ranges 300] [--per-task 8] [--db sqlite|postgres|both]

Stages: a bare httpx POST of the same request body (what any client pays per request); the Mistral provider's `ocr()`
for the range (split the PDF, encode, POST, parse); and the database
side of `run_range` (claim, store, finish) with the provider's result. The whole pipeline also pays Celery and
kombu per range (receive, ack, the task's bookkeeping): bench_mistral_overhead.py's "workers" CPU per range
minus these stages.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pypdfium2 as pdfium
from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema, services_cpu_s

from models.db import Database
from models.tables import Document, PageRange
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.providers.base import SourceDocument
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions
from worker.ranges.claim import claim_range
from worker.ranges.lease import LeaseKeeper
from worker.ranges.run import run_range


def _cpu_ms(fn: Callable[[int], object], n: int) -> float:
    """Median thread CPU per call, over n calls in blocks of 10 (so one descheduled call does not count)."""
    blocks = []
    for start in range(0, n, 10):
        t0 = time.thread_time()
        for i in range(start, min(n, start + 10)):
            fn(i)
        blocks.append((time.thread_time() - t0) / (min(n, start + 10) - start))
    return 1000 * statistics.median(blocks)


def _request_body(pdf: Path, per_task: int) -> bytes:
    src = pdfium.PdfDocument(str(pdf))
    small = pdfium.PdfDocument.new()
    small.import_pages(src, list(range(per_task)))
    buf = io.BytesIO()
    small.save(buf)
    return json.dumps({"model": "mistral-ocr-latest", "include_image_base64": True, "document": {
        "type": "document_url", "document_url": "data:application/pdf;base64," + base64.b64encode(buf.getvalue()).decode()
    }}).encode()


def _database_stages(
    url: str, objects: ObjectStore, provider: MistralProvider, pdf: Path, ranges: int, per_task: int
) -> dict[str, float]:
    db = Database(url)
    db.migrate()
    with db.write_session() as s:
        doc = Document(sha256="0" * 64, filename="in.pdf", mime_type="application/pdf", page_count=ranges * per_task,
                       object_path=pdf.name, status="queued")
        s.add(doc)
        s.flush()
        ids = []
        for seq in range(2 * ranges):
            pages = list(range(seq * per_task, (seq + 1) * per_task))
            rng = PageRange(document_id=doc.id, seq=seq, pages=pages, first_page=pages[0], last_page=pages[-1])
            s.add(rng)
            s.flush()
            ids.append(rng.id)
    leases = LeaseKeeper(db, 60)
    source = SourceDocument(path=pdf, mime_type="application/pdf", kind="pdf", page_count=2 * ranges * per_task)
    result = provider.ocr(source, list(range(per_task)))

    class Canned:
        """The provider's real result for every range, so only the database side is timed."""

        name = provider.name

        def ocr(self, source: SourceDocument, pages: list[int]) -> object:
            result.pages = [replace(p, index=i) for p, i in zip(result.pages, pages, strict=True)]
            return result

    server_before = services_cpu_s()["PostgreSQL"]
    out = {"claim only": _cpu_ms(lambda i: claim_range(db, objects, ids[i], "bench", 4, 60), ranges)}
    server_mid = services_cpu_s()["PostgreSQL"]
    out["run_range, database side (claim, store, finish)"] = _cpu_ms(
        lambda i: run_range(db, objects, Canned(), ids[ranges + i], "bench", leases=leases),  # type: ignore[arg-type]
        ranges,
    )
    if not db.is_sqlite:  # the database server's own CPU for the same work (its processes, on this machine)
        out["server CPU: claim only"] = 1000 * (server_mid - server_before) / ranges
        out["server CPU: run_range"] = 1000 * (services_cpu_s()["PostgreSQL"] - server_mid) / ranges
    leases.close()
    db.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranges", type=int, default=300)
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pagemill-bench-"))
    objects = FolderStore(tmp / "objects")
    objects.root.mkdir(parents=True, exist_ok=True)
    pdf = Pipeline.sample_pdf(2 * args.ranges * args.per_task, objects.root)
    figures: dict[str, float] = {}
    with MistralServer(api_key=KEY, extract_text=False) as server:
        body = _request_body(pdf, args.per_task)
        client = httpx.Client()
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        figures["bare httpx POST (any client's work per request)"] = _cpu_ms(
            lambda i: client.post(server.url + "/v1/ocr", content=body, headers=headers).json(), args.ranges
        )
        provider = MistralProvider(RequestOptions(model="mistral-ocr-latest"), api_key=KEY, base_url=server.url)
        source = SourceDocument(path=pdf, mime_type="application/pdf", kind="pdf", page_count=2 * args.ranges * args.per_task)
        figures["provider.ocr() for one range"] = _cpu_ms(
            lambda i: provider.ocr(source, list(range(i * args.per_task, (i + 1) * args.per_task))), args.ranges
        )
        if args.db in ("sqlite", "both"):
            for name, ms in _database_stages(
                f"sqlite:///{tmp / 'results.sqlite'}", objects, provider, pdf, args.ranges, args.per_task
            ).items():
                figures[f"SQLite: {name}"] = ms
        if args.db in ("postgres", "both"):
            with postgres_schema() as url:
                for name, ms in _database_stages(url, objects, provider, pdf, args.ranges, args.per_task).items():
                    figures[f"PostgreSQL: {name}"] = ms
        provider.close()
        client.close()
    print(f"thread CPU per call, median of blocks of 10 ({args.ranges} calls, {args.per_task}-page ranges):")
    for name, ms in figures.items():
        print(f"  {name}: {ms:.2f} ms")


if __name__ == "__main__":
    main()
