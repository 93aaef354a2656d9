"""`search` through `pagemill mcp` at 100,000 pages: what an assistant waits for, measured with the MCP SDK's own
client (ClientSession over stdio: JSON-RPC, the tool call, the SQL, the snippets and the answer's JSON).

    python bench/bench_mcp_search.py [--pages 100000] [--queries 300] [--db sqlite|postgresql]

Pages are ~2 KB of Zipf-distributed words (bench_search.py's generator), bulk-inserted with SQL (no OCR) in
documents of 1000 pages spread over four collections. Queries mix one- and two-word searches over common,
middling and rare words; every fourth names a collection. Target: p95 under 100 ms. PostgreSQL uses a throwaway
schema in PAGEMILL_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import POSTGRES_URL, VOCAB, page_texts, queries, vocabulary
from sqlalchemy import create_engine, insert, text

from models.db import Database
from models.tables import Document, Page
from tests.results_db import migrated_database

PAGES_PER_DOC = 1000
BATCH = 5000
COLLECTIONS = ["contracts", "invoices", "letters", "reports"]


def fill(db: Database, vocab: list[str], total_pages: int) -> float:
    started = time.perf_counter()
    for d in range(max(1, total_pages // PAGES_PER_DOC)):
        texts = page_texts(vocab, PAGES_PER_DOC, seed=d)
        with db.write_session() as s:
            doc = Document(sha256=uuid.uuid4().hex * 2, filename=f"bench-{d:04d}.pdf", object_path="originals/x",
                           status="done", page_count=PAGES_PER_DOC, collection=COLLECTIONS[d % len(COLLECTIONS)])
            s.add(doc)
            s.flush()
            rows = [{"document_id": doc.id, "page_index": i, "source": "tesseract", "markdown": t}
                    for i, t in enumerate(texts)]
            for k in range(0, len(rows), BATCH):
                s.execute(insert(Page), rows[k:k + BATCH])
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO pages_fts(pages_fts) VALUES ('optimize')")
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


async def run_queries(url: str, data_dir: Path,
                      qs: list[tuple[str, str | None, str]]) -> list[tuple[str, bool, float, int]]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_DATA_DIR": str(data_dir), "PAGEMILL_DATABASE_URL": url,
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    params = StdioServerParameters(command=sys.executable, args=["-m", "scheduler.cli", "mcp"], env=env, cwd=str(ROOT))
    out = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for q, coll, _ in qs[:10]:  # warm the server's caches and the database's
            await session.call_tool("search", {"query": q, "limit": 10, "collection": coll})
        for _ in range(50):  # the protocol's own cost: a tool call that reads one row
            t0 = time.perf_counter()
            await session.call_tool("list_documents", {"limit": 1})
            out.append(("round trip", False, (time.perf_counter() - t0) * 1000, 0))
        for q, coll, band in qs:
            t0 = time.perf_counter()
            result = await session.call_tool("search", {"query": q, "limit": 10, "collection": coll})
            ms = (time.perf_counter() - t0) * 1000
            assert not result.is_error, result.content
            hits = (result.structured_content or {}).get("hits", [])
            out.append((band, coll is not None, ms, len(hits)))
    return out


def report(label: str, results: list[tuple[str, bool, float, int]]) -> None:
    def p(xs: list[float], n: int) -> float:
        return statistics.quantiles(xs, n=100)[n - 1] if len(xs) > 1 else xs[0]

    trips = [r[2] for r in results if r[0] == "round trip"]
    results = [r for r in results if r[0] != "round trip"]
    all_ms = [r[2] for r in results]
    hits = sum(r[3] for r in results) / len(results)
    p95 = p(all_ms, 95)
    print(f"[{label}] search through MCP (stdio ClientSession), {len(results)} queries, limit 10, {hits:.1f} hits/query:"
          f" p50 {p(all_ms, 50):.1f} ms, p95 {p95:.1f} ms, max {max(all_ms):.1f} ms"
          f" -> target p95 < 100 ms {'MET' if p95 < 100 else 'MISSED'}")
    print(f"    list_documents(limit=1), the protocol's own cost: p50 {p(trips, 50):.1f} ms, p95 {p(trips, 95):.1f} ms")
    for band in ("common", "middle", "rare"):
        xs = [r[2] for r in results if r[0] == band]
        print(f"    {band:7s} words: p50 {p(xs, 50):.1f} ms, p95 {p(xs, 95):.1f} ms")
    for narrowed in (False, True):
        xs = [r[2] for r in results if r[1] == narrowed]
        print(f"    {'with a collection' if narrowed else 'every collection':17s}: p50 {p(xs, 50):.1f} ms,"
              f" p95 {p(xs, 95):.1f} ms")


def mixed_queries(vocab: list[str], n: int) -> list[tuple[str, str | None, str]]:
    rng = random.Random(7)
    bands = ["common", "middle", "rare"]  # the order bench_search.queries cycles through
    return [(q, COLLECTIONS[i % len(COLLECTIONS)] if i % 4 == 3 else None, bands[i % 3])
            for i, q in enumerate(queries(vocab, n, rng))]


def bench(label: str, url: str, args: argparse.Namespace, work: Path) -> None:
    db = migrated_database(url)
    vocab = vocabulary(random.Random(1))
    assert len(vocab) == VOCAB
    insert_s = fill(db, vocab, args.pages)
    with db.read_session() as s:
        pages = s.scalar(text("SELECT count(*) FROM pages")) or 0
    db.dispose()
    print(f"[{label}] {pages} pages in {pages // PAGES_PER_DOC} documents over {len(COLLECTIONS)} collections,"
          f" inserted in {insert_s:.1f} s")
    report(label, asyncio.run(run_queries(url, work / "data", mixed_queries(vocab, args.queries))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mcp-search-") as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        if args.db == "sqlite":
            bench("sqlite", f"sqlite:///{work / 'bench.sqlite'}", args, work)
            return
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            bench("postgresql", f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}", args, work)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
