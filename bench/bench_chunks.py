"""Chunking a backlog: pages/s of `document_chunks` over documents stored in a database (read, tables placed,
parsed, cut), and of the pure cutter alone.

    python bench/bench_chunks.py [--pages 10000] [--pages-per-doc 20] [--size 2000] [--unit chars]
    python bench/bench_chunks.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

The pages are the generated report of tests/scheduler/chunks/test_chunks.py (headings, long paragraphs, a
small and a 60-row table, a list, a paragraph cut by a page break), about 1.5 KB a page. Target: >= 500 pages/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.chunks import ChunkOptions, chunk_pages, document_chunks
from tests.results_db import add_document, migrated_database
from tests.scheduler.chunks.test_chunks import generated


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--pages-per-doc", type=int, default=20)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--unit", default="chars")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    options = ChunkOptions(args.size, 0, args.unit)
    base, _, _ = generated()
    doc_pages = [base[i % len(base)] for i in range(args.pages_per_doc)]
    n_docs = max(1, args.pages // args.pages_per_doc)

    t = time.perf_counter()
    pieces = 0
    for _ in range(n_docs):
        pieces += len(chunk_pages(list(enumerate(doc_pages)), options))
    pure = time.perf_counter() - t
    print(f"cutter alone: {n_docs * len(doc_pages)} pages, {pieces} chunks, {n_docs * len(doc_pages) / pure:,.0f} pages/s")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
        db = migrated_database(url)
        ids = [add_document(db, f"doc-{n}.pdf", doc_pages, sha=f"{n:064x}") for n in range(n_docs)]
        t = time.perf_counter()
        count = sum(len(document_chunks(db, doc, options)) for doc in ids)
        took = time.perf_counter() - t
        print(f"from the database ({db.url.split(':')[0]}): {len(ids) * len(doc_pages)} pages, {count} chunks, "
              f"{len(ids) * len(doc_pages) / took:,.0f} pages/s")
        db.dispose()


if __name__ == "__main__":
    main()
