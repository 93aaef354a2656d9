"""Pages/s through `pagemill serve` (2 OCR processes, concurrent one-page requests over HTTP with base64)
divided by pages/s of the local engine called in-process on the same pages.

Two baselines are printed: the engine in ONE process (what a single `TesseractProvider` does), and the engine
in TWO processes with no HTTP (same parallelism as the server: the ratio that isolates the cost of HTTP,
JSON and base64). Target: >= 0.85.

    python bench/bench_serve.py [--pages 24] [--clients 4]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduler.samples import make_scanned_pdf, page_text
from tests.worker.serve_harness import running_server
from worker.documents.inspect import inspect_document
from worker.providers.base import SourceDocument
from worker.providers.tesseract import TesseractProvider

_engine: TesseractProvider | None = None


def _init() -> None:
    global _engine
    _engine = TesseractProvider()
    _engine._get_engine()


def _ocr_file(path: Path) -> int:
    assert _engine is not None
    info = inspect_document(path)
    source = SourceDocument(path, info.mime_type, info.kind, info.page_count)
    return len(_engine.ocr(source, [0]).pages)


def in_process(files: list[Path], processes: int) -> float:
    """Pages/s of the engine itself: every page read once, `processes` engines at a time."""
    with ProcessPoolExecutor(processes, initializer=_init) as pool:
        list(pool.map(_ocr_file, files[:processes]))  # engines loaded before the clock starts
        start = time.perf_counter()
        pages = sum(pool.map(_ocr_file, files))
    return pages / (time.perf_counter() - start)


def through_server(base: str, files: list[Path], clients: int) -> float:
    bodies = [{"model": "mistral-ocr-latest", "document": {"type": "document_url", "document_url":
               "data:application/pdf;base64," + base64.b64encode(f.read_bytes()).decode()}} for f in files]
    with httpx.Client(timeout=300) as http:
        def post(body: dict[str, object]) -> int:
            resp = http.post(f"{base}/v1/ocr", json=body)
            resp.raise_for_status()
            return len(resp.json()["pages"])

        post(bodies[0])  # warm: connection and first page
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as threads:
            pages = sum(threads.map(post, bodies))
    return pages / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [make_scanned_pdf(folder / f"p{i}.pdf", [page_text(i, 120)], dpi=300) for i in range(args.pages)]
        one = in_process(files, 1)
        two = in_process(files, 2)
        with running_server(folder / "data", "--workers", "2") as base:
            served = through_server(base, files, args.clients)
    print(f"pages: {args.pages} one-page scanned PDFs at 300 dpi; {args.clients} concurrent HTTP clients")
    print(f"in-process engine, 1 process : {one:6.2f} pages/s")
    print(f"in-process engine, 2 processes: {two:6.2f} pages/s")
    print(f"pagemill serve --workers 2    : {served:6.2f} pages/s")
    print(f"ratio serve / in-process (1 process)  : {served / one:.2f}")
    print(f"ratio serve / in-process (2 processes): {served / two:.2f}   (target >= 0.85)")


if __name__ == "__main__":
    main()
