"""Search latency over 100,000 pages and export time of a 1000-page document, on SQLite and PostgreSQL.

    python bench/bench_search.py [--pages 100000] [--queries 200] [--skip-postgres]

Pages are ~2 KB of words drawn from a Zipf-distributed vocabulary (so some query words are on most pages and
some on a handful), bulk-inserted with SQLAlchemy core while the search triggers / generated columns are
active. Queries mix one- and two-word searches over rare, middling and common words, each run through
models.search.search() (snippets included). PostgreSQL uses a throwaway schema in
PAGEMILL_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, insert, text

from models.db import Database
from models.search import search
from models.tables import Document, Image, Page
from scheduler.export.document import export_document
from tests.results_db import migrated_database
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore

POSTGRES_URL = os.environ.get("PAGEMILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
VOCAB = 30_000
WORDS_PER_PAGE = 300  # ~2 KB with the word lengths below
PAGES_PER_DOC = 1000
BATCH = 5000


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCAB:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def page_texts(vocab: list[str], n: int, seed: int) -> list[str]:
    gen = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
    p = 1 / ranks
    p /= p.sum()
    idx = gen.choice(VOCAB, size=(n, WORDS_PER_PAGE), p=p)
    arr = np.array(vocab, dtype=object)
    return [" ".join(arr[row]) for row in idx]


def queries(vocab: list[str], n: int, rng: random.Random) -> list[str]:
    bands = {"common": (10, 300), "middle": (300, 5000), "rare": (5000, VOCAB)}
    out = []
    for i in range(n):
        lo, hi = list(bands.values())[i % 3]
        words = [vocab[rng.randrange(lo, hi)] for _ in range(1 + (i % 2))]
        out.append(" ".join(words))
    return out


def fill(db: Database, objects: ObjectStore, vocab: list[str], total_pages: int) -> tuple[int, float]:
    """Insert documents of 1000 pages (the first gets 50 images); returns the first id and seconds taken."""
    image_rows = []
    for n in range(50):
        buf = io.BytesIO()
        PILImage.new("RGB", (64, 48), (n * 5, 100, 200)).save(buf, "PNG")
        stored = objects.put_bytes(buf.getvalue(), "images", "png")
        image_rows.append({"page_index": n * 20, "name": f"img-{n * 20}-0.png", "path": stored.relpath,
                           "sha256": stored.sha256, "mime_type": "image/png"})
    started = time.perf_counter()
    first_doc = 0
    for d in range(max(1, total_pages // PAGES_PER_DOC)):
        texts = page_texts(vocab, PAGES_PER_DOC, seed=d)
        with db.write_session() as s:
            doc = Document(sha256=uuid.uuid4().hex * 2, filename=f"bench-{d:04d}.pdf", object_path="originals/x",
                           status="done", page_count=PAGES_PER_DOC)
            s.add(doc)
            s.flush()
            first_doc = first_doc or doc.id
            rows = [{"document_id": doc.id, "page_index": i, "source": "tesseract", "width": 2480,
                     "height": 3508, "dpi": 300,
                     "markdown": t + (f"\n\n![img-{i}-0.png](img-{i}-0.png)" if d == 0 and i % 20 == 0 else "")}
                    for i, t in enumerate(texts)]
            for k in range(0, len(rows), BATCH):
                s.execute(insert(Page), rows[k:k + BATCH])
            if d == 0:
                s.execute(insert(Image), [{"document_id": doc.id, **r} for r in image_rows])
    return first_doc, time.perf_counter() - started


def measure(label: str, db: Database, objects: ObjectStore, vocab: list[str], args: argparse.Namespace,
            workdir: Path) -> None:
    doc_id, insert_s = fill(db, objects, vocab, args.pages)
    with db.read_session() as s:
        pages = s.scalar(text("SELECT count(*) FROM pages"))
        size = s.scalar(text("SELECT sum(length(markdown)) FROM pages"))
    print(f"\n[{label}] {pages} pages, {size / pages / 1024:.2f} KB/page, inserted in {insert_s:.1f} s "
          f"({pages / insert_s:.0f} pages/s, index maintained by the database)")
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO pages_fts(pages_fts) VALUES ('optimize')")
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE pages")
    qs = queries(vocab, args.queries, random.Random(7))
    for q in qs[:10]:
        search(db, q)  # warm caches
    by_band: dict[str, list[float]] = {"common": [], "middle": [], "rare": []}
    all_ms, hits = [], 0
    for i, q in enumerate(qs):
        t0 = time.perf_counter()
        hits += len(search(db, q, limit=20))
        ms = (time.perf_counter() - t0) * 1000
        all_ms.append(ms)
        by_band[list(by_band)[i % 3]].append(ms)
    p = lambda xs, q: statistics.quantiles(xs, n=100)[q - 1]  # noqa: E731
    print(f"[{label}] search over {len(qs)} queries (limit 20, {hits / len(qs):.1f} hits/query): "
          f"p50 {p(all_ms, 50):.1f} ms, p95 {p(all_ms, 95):.1f} ms, max {max(all_ms):.1f} ms")
    for band, xs in by_band.items():
        print(f"    {band:7s} words: p50 {p(xs, 50):.1f} ms, p95 {p(xs, 95):.1f} ms")
    for fmt in ("md", "json", "zip"):
        t0 = time.perf_counter()
        export_document(db, objects, doc_id, fmt, workdir / f"{label}-export.{fmt}")
        print(f"[{label}] export {fmt} of a {PAGES_PER_DOC}-page document (50 images): "
              f"{time.perf_counter() - t0:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    vocab = vocabulary(random.Random(1))
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        work = Path(tmp)
        objects = FolderStore(work / "objects")
        db = migrated_database(f"sqlite:///{work / 'bench.sqlite'}")
        measure("sqlite", db, objects, vocab, args, work)
        db.dispose()
        if args.skip_postgres:
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            pg = migrated_database(f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}")
            measure("postgresql", pg, objects, vocab, args, work)
            pg.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
