"""What pagemill's own part of `pagemill extract` costs: documents per second against an instant loopback chat
server (tests/fakes/chat_server.py), and the page selection of a long document.

    python bench/bench_extract.py [--docs 300] [--inflight 4] [--long-pages 2000]

The chat server answers at once, so the figure is pagemill's overhead per document (reading the pages,
building the request, the shared rate limiter on the embedded database, validating the answer, writing the
fields and ledger rows), not a model's speed: with a real model the answer time dominates. Embedded SQLite in
a temporary data folder; the rate limit is off (PAGEMILL_EXTRACT_RATE_LIMIT 0), the in-flight cap is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--long-pages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PAGEMILL_DATA_DIR"] = tmp
        from sqlalchemy import insert

        from models.db import Database
        from models.tables import Document, Page
        from scheduler.launch.extract import extract_documents
        from tests.fakes.chat_server import ChatServer
        from worker.extraction.prompt import PageText, select_pages
        from worker.extraction.schema import load_schema
        from worker.extraction.settings import ExtractSettings

        db = Database.from_settings()
        db.migrate()
        with db.write_session() as s:
            for n in range(args.docs):
                doc = Document(sha256=f"{n:064x}", filename=f"inv-{n}.pdf", object_path="x", status="done",
                               page_count=2)
                s.add(doc)
                s.flush()
                s.execute(insert(Page), [
                    {"document_id": doc.id, "page_index": 0, "source": "mistral",
                     "markdown": f"# Invoice\n\nInvoice number: INV-{n}\n\nTotal: {n}.50\n\nCurrency: EUR\n\n" +
                                 "Lorem ipsum dolor sit amet. " * 60},
                    {"document_id": doc.id, "page_index": 1, "source": "mistral", "markdown": "Terms. " * 200},
                ])
        schema = load_schema(Path(__file__).resolve().parent.parent / "examples" / "invoice.schema.json")
        with ChatServer(api_key="sk-bench") as chat:
            settings = ExtractSettings(base_url=chat.url, api_key="sk-bench", rate_limit=0,  # type: ignore[arg-type]
                                       max_inflight=args.inflight)
            started = time.perf_counter()
            report = extract_documents(schema, every=True, settings=settings, db=db)
            took = time.perf_counter() - started
            again = time.perf_counter()
            skipped = extract_documents(schema, every=True, settings=settings, db=db)
            skip_took = time.perf_counter() - again
        print(f"extract: {len(report.done)} documents in {took:.2f} s = {len(report.done) / took:.0f} docs/s "
              f"({args.inflight} in flight, {len(chat.received)} requests, {len(report.failed)} failed)")
        print(f"second run (all skipped): {len(skipped.skipped)} documents in {skip_took:.2f} s")
        pages = [PageText(i, f"Page text {i}. " * 300 + ("Invoice number: 7" if i == args.long_pages - 3 else ""))
                 for i in range(args.long_pages)]
        started = time.perf_counter()
        selection = select_pages(pages, schema.body, 200_000)
        print(f"page selection of a {args.long_pages}-page document ({sum(len(p.markdown) for p in pages) / 1e6:.1f}"
              f" M chars): {(time.perf_counter() - started) * 1000:.0f} ms, {len(selection.pages)} pages sent; "
              f"{selection.note}")
        db.dispose()


if __name__ == "__main__":
    main()
