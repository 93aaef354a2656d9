"""What keeping every part of a page costs the store: parse + prepare + insert of 8-page ranges, plain pages
(index, markdown, dimensions) against OCR 4 pages with the default parts (an html table, header, footer, a link,
five blocks, page scores) and with word scores too (~340 words a page), on SQLite and PostgreSQL.

    python bench/bench_page_parts.py [--ranges 200] [--db sqlite|postgres|both]

Timed with the thread's CPU clock for parse/prepare and the wall clock for the database write, so the figures
are per range (8 pages) and per page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _mistral_harness import POSTGRES_URL, postgres_schema

from models.db import Database
from models.tables import Document
from tests.fakes.mistral_structure import Structure, enrich
from tests.results_db import migrated_database
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.providers.base import OcrResult
from worker.providers.mistral_response import parse_response
from worker.ranges.persist import insert_prepared, prepare_result

PAGES = 8
TEXT = " ".join(["the quarterly figures for the northern region show a modest increase"] * 30)


# what each variant asks of the API: nothing optional; the defaults (html tables, blocks, page scores) with
# header/footer extraction; and all of that with a score per word
VARIANTS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "default": {"table_format": "html", "extract_header": True, "extract_footer": True,
                "confidence_scores_granularity": "page"},
    "words": {"table_format": "html", "extract_header": True, "extract_footer": True,
              "confidence_scores_granularity": "word"},
}


def _body(request: dict[str, Any] | None) -> bytes:
    pages = []
    for i in range(PAGES):
        page: dict[str, Any] = {"index": i, "markdown": f"Page {i} {TEXT}", "images": [],
                                "dimensions": {"dpi": 200, "width": 1700, "height": 2200}}
        if request is not None:
            page = enrich(page, request, i, "mistral-ocr-4-1", Structure())
        pages.append(page)
    return json.dumps({"pages": pages, "model": "mistral-ocr-4-1",
                       "usage_info": {"pages_processed": PAGES}}).encode()


def _run(db: Database, objects: ObjectStore, body: bytes, ranges: int) -> tuple[float, float]:
    with db.write_session() as s:
        doc = Document(sha256=str(time.time_ns()).ljust(64, "0"), filename="b.pdf", object_path="x",
                       status="running")
        s.add(doc)
        s.flush()
        doc_id = doc.id
    cpu, wall = [], []
    for r in range(ranges):
        t0 = time.thread_time()
        parsed = parse_response(body, list(range(r * PAGES, (r + 1) * PAGES)))
        prepared = prepare_result(objects, doc_id, r, "mistral",
                                  OcrResult(parsed.pages, parsed.model, parsed.usage, billed=True))
        cpu.append(time.thread_time() - t0)
        w0 = time.perf_counter()
        with db.write_session() as s:
            insert_prepared(s, prepared)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranges", type=int, default=200)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        urls = []
        if args.db in ("sqlite", "both"):
            urls.append(("sqlite", f"sqlite:///{Path(tmp) / 'b.sqlite'}"))
        if args.db in ("postgres", "both"):  # a schema of its own, dropped at the end
            urls.append(("postgres", stack.enter_context(postgres_schema(POSTGRES_URL))))
        objects = FolderStore(Path(tmp) / "objects")  # the object folder
        for name, url in urls:
            db = migrated_database(url)
            try:
                for label, request in VARIANTS.items():
                    body = _body(request)
                    cpu, wall = _run(db, objects, body, args.ranges)
                    print(f"{name:8} {label:7} body {len(body) / 1000:6.1f} kB/range  parse+prepare "
                          f"{cpu * 1e3:6.2f} ms/range ({cpu * 1e6 / PAGES:5.0f} µs/page)  insert "
                          f"{wall * 1e3:6.2f} ms/range (median of {args.ranges})")
            finally:
                db.dispose()


if __name__ == "__main__":
    main()
