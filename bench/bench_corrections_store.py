"""What the store path's correction check (models/corrections.py keep_corrections) costs per stored range.

    python bench/bench_corrections_store.py [--ranges 2000] [--postgres URL]

Stores ranges of 8 pages into a fresh database the way a worker's store does (insert_prepared_many in one
transaction per range) and times the whole write and the check alone, with no corrections (the usual case)
and with one corrected page per range, against the same store without the check.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete

from models.corrections import keep_corrections, save_correction
from models.db import Database
from models.tables import Page
from tests.results_db import add_document, migrated_database
from worker.ranges.persist import PreparedResult, insert_ignore, insert_prepared_many

PAGES = 8


def _rows(doc: int, first: int) -> list[dict[str, object]]:
    return [{"document_id": doc, "page_index": first + i, "markdown": f"page {first + i} " + "lorem ipsum " * 150,
             "width": None, "height": None, "dpi": None, "source": "tesseract", "model": None, "range_id": None}
            for i in range(PAGES)]


def baseline(db: Database, ranges: int) -> float:
    """The same store without the check: the page insert as it was before corrections existed."""
    doc = add_document(db, "bench-baseline.pdf", [])
    total = []
    for r in range(ranges):
        rows = _rows(doc, r * PAGES)
        t0 = time.perf_counter()
        with db.engine.connect() as conn:
            with conn.begin():
                insert_ignore(conn, Page, rows, ["document_id", "page_index"])
        total.append(time.perf_counter() - t0)
    return statistics.median(total) * 1e3


def run(db: Database, ranges: int, corrected: bool) -> tuple[float, float]:
    doc = add_document(db, f"bench-{corrected}.pdf", [""] * (ranges * PAGES))
    if corrected:
        for r in range(ranges):
            save_correction(db, doc, r * PAGES, "corrected", author="bench")
    with db.write_session() as s:
        s.execute(delete(Page).where(Page.document_id == doc))
    total, check = [], []
    for r in range(ranges):
        rows = _rows(doc, r * PAGES)
        t0 = time.perf_counter()
        with db.engine.connect() as conn:
            with conn.begin():
                insert_prepared_many(conn, [PreparedResult(rows, [], None)])
        total.append(time.perf_counter() - t0)
        with db.engine.connect() as conn, conn.begin():  # the check alone, on rows already stored
            t1 = time.perf_counter()
            keep_corrections(conn, rows)
            check.append(time.perf_counter() - t1)
    return statistics.median(total) * 1e3, statistics.median(check) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranges", type=int, default=2000)
    ap.add_argument("--postgres", help="a PostgreSQL URL (an empty database or schema)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}")]
        if args.postgres:
            urls.append(("postgresql", args.postgres))
        for name, url in urls:
            db = migrated_database(url)
            print(f"{name:10s} {'without the check':30s} store of {PAGES} pages {baseline(db, args.ranges):.3f} ms")
            for corrected in (False, True):
                whole, alone = run(db, args.ranges, corrected)
                label = "one corrected page per range" if corrected else "no corrections"
                print(f"{name:10s} {label:30s} store of {PAGES} pages {whole:.3f} ms, of which the check "
                      f"{alone:.3f} ms (median of {args.ranges})")
            db.dispose()


if __name__ == "__main__":
    main()
