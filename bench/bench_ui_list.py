"""How long the review page's views take over a large library (default 100,000 documents, one page each).

    python bench/bench_ui_list.py [--documents 100000] [--postgres URL]

Fills a fresh database, then times each view through FastAPI's TestClient (the whole request: routing,
queries, template), median of a few runs. Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from models.tables import Document, Page, PageRange
from scheduler.ui.app import create_app
from scheduler.ui.queries import failures, list_documents, review_queue
from scheduler.ui.settings import UiSettings
from tests.results_db import migrated_database
from worker.settings import WorkerSettings

STATES = ["done"] * 8 + ["failed", "partial"]


def fill(db, n: int) -> None:  # type: ignore[no-untyped-def]
    batch = 5000
    for start in range(0, n, batch):
        docs = [{"sha256": f"{i:064x}", "filename": f"scan-{i:06d}.pdf", "object_path": "originals/x",
                 "status": STATES[i % len(STATES)], "page_count": 1, "collection": f"box-{i % 20}",
                 "error": "the PDF is damaged" if i % 10 == 8 else None}
                for i in range(start, min(n, start + batch))]
        with db.write_session() as s:
            s.execute(insert(Document), docs)
            ids = s.scalars(select(Document.id).where(Document.sha256.in_([d["sha256"] for d in docs]))).all()
            s.execute(insert(Page), [{"document_id": i, "page_index": 0, "markdown": f"page of {i} lorem ipsum " * 20,
                                      "source": "tesseract"} for i in ids])
            s.execute(insert(PageRange), [{"document_id": i, "seq": 1, "pages": [0], "first_page": 0, "last_page": 0,
                                           "status": "failed", "error": "rejected"} for i in ids if i % 10 == 0])


def timed(client: TestClient, url: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--postgres")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}")] + (
            [("postgresql", args.postgres)] if args.postgres else [])
        for name, url in urls:
            db = migrated_database(url)
            t0 = time.perf_counter()
            fill(db, args.documents)
            print(f"{name}: filled {args.documents} documents in {time.perf_counter() - t0:.0f} s")
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")  # planner statistics, as a database in use has them
            for label, fn in [("list_documents", lambda db=db: list_documents(db, None, None, None, 50)),
                              ("review_queue", lambda db=db: review_queue(db)),
                              ("failures", lambda db=db: failures(db))]:
                t1 = time.perf_counter()
                fn()
                print(f"{name:10s}   query {label:27s} {(time.perf_counter() - t1) * 1e3:8.1f} ms (first call)")
            client = TestClient(create_app(UiSettings(), db=db, worker_settings=WorkerSettings(data_dir=Path(tmp))),
                                base_url="http://127.0.0.1:8780")
            mid = args.documents // 2
            for label, url_ in [("documents, newest 50", "/"), ("documents, failed", "/?status=failed"),
                                ("documents, a collection", "/?collection=box-7"),
                                (f"documents, older than id {mid}", f"/?before={mid}"),
                                ("failures (500 newest)", "/failures"), ("search, a rare word", "/search?q=99999"),
                                ("review queue", "/review"), ("a page", f"/doc/{mid}/page/0")]:
                print(f"{name:10s} {label:34s} {timed(client, url_):8.1f} ms")
            db.dispose()


if __name__ == "__main__":
    main()
