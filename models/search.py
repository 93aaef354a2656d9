"""Full-text search over stored pages (their text, the descriptions of their images and the text of their
tables), ranked, with snippets.

    from models.search import search
    for hit in search(db, "invoice total", limit=10):
        print(hit.filename, hit.page_index, hit.snippet)

The same call gives the same shape on SQLite (FTS5: bm25 + snippet()) and PostgreSQL (tsvector: ts_rank +
ts_headline); the index itself is kept by the database (migration 0002), not by this module.

A query is a list of words that must all appear. User input never reaches the FTS syntax: it is split into
word tokens and each is quoted, so `"`, `AND`, `-`, `:` or `(` cannot cause a syntax error or change the
meaning. A word ending in `*` matches as a prefix (`invoic*`).

A document id or a collection narrows the matches inside the query, before ranking and before the candidate
cap below, so a narrowed search ranks its own matches, not what is left of everyone's.

Ranking is exact for queries matching up to RANK_CANDIDATES pages. A query matching more (a word on most
pages, like "the") is ranked among the RANK_CANDIDATES most recently stored matching pages: ranking every
one of 90,000 matches costs 100+ ms, and for such a word the rank says little anyway. On PostgreSQL each
ranked page costs a read of its TOASTed tsvector (~3 KB for a 2 KB page, ~5-10 µs), so the cap bounds the
cost of a common word: 1000 candidates keep it near 20 ms on 100,000 pages where 5000 took ~60 ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from .db import Database
from .errors import ConfigError

__all__ = ["SearchHit", "search", "parse_query", "HIGHLIGHT_START", "HIGHLIGHT_END", "RANK_CANDIDATES"]

HIGHLIGHT_START = "<mark>"
HIGHLIGHT_END = "</mark>"
RANK_CANDIDATES = 1000
_SNIPPET_WORDS = 24
_MAX_TERMS = 32
_TOKEN = re.compile(r"[^\W_]+(\*)?", re.UNICODE)


@dataclass(frozen=True)
class SearchHit:
    document_id: int
    filename: str
    page_index: int  # 0-based, as in the pages table
    rank: float  # higher is better; comparable within one result list only
    snippet: str  # text around the matches, each match wrapped in HIGHLIGHT_START/HIGHLIGHT_END
    matched: str = "page"  # "page" (its markdown), "image" (an image's description) or "table" (a table's text)


@dataclass(frozen=True)
class _Term:
    word: str
    prefix: bool


def parse_query(query: str) -> list[_Term]:
    """Word tokens of a user query; a trailing `*` asks for a prefix match. Everything else is dropped."""
    terms = [_Term(m.group(0).rstrip("*").lower(), bool(m.group(1))) for m in _TOKEN.finditer(query)]
    return terms[:_MAX_TERMS]


def _fts5_query(terms: list[_Term]) -> str:
    # tokens hold letters and digits only, so the quotes can never be unbalanced
    return " ".join(f'"{t.word}"' + ("*" if t.prefix else "") for t in terms)


def _tsquery(terms: list[_Term]) -> str:
    return " & ".join(f"'{t.word}'" + (":*" if t.prefix else "") for t in terms)


def search(db: Database, query: str, doc_id: int | None = None, limit: int = 20,
           collection: str | None = None) -> list[SearchHit]:
    """Pages where every word of `query` appears (in the page text, in a description of one of its images or
    in one of its tables), best first; with `collection`, only pages of that collection's documents (filtered
    before ranking, so a weak match there is not crowded out by stronger ones elsewhere). Raises ConfigError
    when the query holds no word at all."""
    terms = parse_query(query)
    if not terms:
        raise ConfigError(f"nothing to search for in {query!r}: give at least one word")
    limit = max(1, min(int(limit), 1000))
    if db.is_sqlite:
        match, queries = _fts5_query(terms), {"page": _SQLITE_PAGES, "image": _SQLITE_IMAGES,
                                              "table": _SQLITE_TABLES}
    else:
        match, queries = _tsquery(terms), {"page": _PG_PAGES, "image": _PG_IMAGES, "table": _PG_TABLES}
    params = _params(match, doc_id, limit, collection)
    # one transaction for every part: fewer round trips of BEGIN/COMMIT, and a consistent view
    with db.read_session() as s:
        hits = [hit for matched, sql in queries.items() for hit in _run(s, db.is_sqlite, sql, params, matched)]
    return _merge(hits, limit)


def _params(match: str, doc_id: int | None, limit: int, collection: str | None) -> dict[str, object]:
    return {
        "q": match, "doc": doc_id, "coll": collection, "limit": limit, "cap": RANK_CANDIDATES,
        "start": HIGHLIGHT_START, "end": HIGHLIGHT_END, "words": _SNIPPET_WORDS,
        "opts": f'StartSel="{HIGHLIGHT_START}", StopSel="{HIGHLIGHT_END}", MaxWords={_SNIPPET_WORDS + 11}, '
                f'MinWords={_SNIPPET_WORDS // 2}, MaxFragments=2, FragmentDelimiter=" … "',
    }


def _run(s: Session, is_sqlite: bool, sql: str, params: dict[str, object], matched: str) -> list[SearchHit]:
    params = dict(params)
    if is_sqlite:
        # the rowid just below the newest RANK_CANDIDATES matches (0 when there are fewer): FTS5 walks
        # its doclist backwards and stops there, and takes `rowid > :floor` as an index constraint
        floor_sql = _SQLITE_FLOOR.format(table=_FTS_TABLES[matched])
        params["floor"] = s.execute(text(floor_sql), params).scalar() or 0
    rows = s.execute(text(sql), params).all()
    return [SearchHit(r.document_id, r.filename, r.page_index, float(r.rank), r.snippet or "", matched)
            for r in rows]


_FTS_TABLES = {"page": "pages", "image": "images", "table": "page_tables"}


def _merge(hits: list[SearchHit], limit: int) -> list[SearchHit]:
    """One hit per page: a page found by its text, an image or a table keeps the best-ranked of them."""
    best: dict[tuple[int, int], SearchHit] = {}
    for hit in hits:
        key = (hit.document_id, hit.page_index)
        if key not in best or hit.rank > best[key].rank:
            best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.rank, h.document_id, h.page_index))[:limit]


# bm25 (lower is better, hence the sign) is computed in SQL for the rows that pass every filter, then sorted:
# FTS5's own `ORDER BY rank` would rank every match above the floor, in a collection or not, before the
# collection filter runs (measured: 4x the rows for a collection holding a quarter of the pages). snippet()
# runs for the returned rows only, each looked up by rowid. rowid IN (...) keeps the FTS5 query plan.
_SQLITE_FLOOR = """
SELECT rowid FROM {table}_fts
WHERE {table}_fts MATCH :q AND (:doc IS NULL OR rowid IN (SELECT id FROM {table} WHERE document_id = :doc))
  AND (:coll IS NULL OR rowid IN (SELECT x.id FROM {table} x JOIN documents c ON c.id = x.document_id
                                  WHERE c.collection = :coll))
ORDER BY rowid DESC LIMIT 1 OFFSET :cap
"""

_SQLITE_HITS = """
WITH top AS (
    SELECT rowid AS row_id, bm25({table}_fts) AS score
    FROM {table}_fts
    WHERE {table}_fts MATCH :q AND rowid > :floor
      AND (:doc IS NULL OR rowid IN (SELECT id FROM {table} WHERE document_id = :doc))
      AND (:coll IS NULL OR rowid IN (SELECT x.id FROM {table} x JOIN documents c ON c.id = x.document_id
                                      WHERE c.collection = :coll))
    ORDER BY score LIMIT :limit
)
SELECT r.document_id, d.filename, r.page_index, -top.score AS rank,
       {label}(SELECT snippet({table}_fts, 0, :start, :end, ' … ', :words) FROM {table}_fts
                WHERE {table}_fts MATCH :q AND rowid = top.row_id) AS snippet
FROM top
JOIN {table} r ON r.id = top.row_id
JOIN documents d ON d.id = r.document_id
ORDER BY top.score
"""

_SQLITE_PAGES = _SQLITE_HITS.format(table="pages", label="")
_SQLITE_IMAGES = _SQLITE_HITS.format(table="images", label="r.name || ': ' || ")
_SQLITE_TABLES = _SQLITE_HITS.format(table="page_tables", label="r.table_id || ': ' || ")

# ts_headline re-parses the text, so it runs after LIMIT on the few rows returned. Normalisation 1 divides
# by the log of the length, like bm25's length penalty. The tsquery is kept in a CTE on purpose: if the
# planner saw the constant, it would pick a backward scan of pages_pkey filtered by `@@` for words it
# estimates as common, and that filter reads every scanned row's TOASTed tsvector (30,000 rows, 130+ ms,
# measured); hidden, it always takes the GIN bitmap, which touches no tsvector, and the ranking below reads
# RANK_CANDIDATES of them at most.
_PG_PAGES = """
WITH q AS MATERIALIZED (SELECT to_tsquery('simple', :q) AS query),
hits AS (
    SELECT p.id, p.document_id, p.page_index, ts_rank(p.search_vector, q.query, 1) AS rank
    FROM (
        SELECT c.id FROM pages c, q
        WHERE c.search_vector @@ q.query AND (CAST(:doc AS integer) IS NULL OR c.document_id = :doc)
          AND (CAST(:coll AS text) IS NULL
               OR c.document_id IN (SELECT cd.id FROM documents cd WHERE cd.collection = :coll))
        ORDER BY c.id DESC LIMIT :cap
    ) newest
    JOIN pages p ON p.id = newest.id, q
    ORDER BY rank DESC, p.id LIMIT :limit
)
SELECT h.document_id, d.filename, h.page_index, h.rank,
       ts_headline('simple', p.markdown, q.query, :opts) AS snippet
FROM hits h JOIN pages p ON p.id = h.id JOIN documents d ON d.id = h.document_id, q
ORDER BY h.rank DESC, h.id
"""

_PG_IMAGES = """
WITH q AS MATERIALIZED (SELECT to_tsquery('simple', :q) AS query),
hits AS (
    SELECT i.id, i.document_id, i.page_index, ts_rank(i.search_vector, q.query, 1) AS rank
    FROM (
        SELECT c.id FROM images c, q
        WHERE c.search_vector @@ q.query AND (CAST(:doc AS integer) IS NULL OR c.document_id = :doc)
          AND (CAST(:coll AS text) IS NULL
               OR c.document_id IN (SELECT cd.id FROM documents cd WHERE cd.collection = :coll))
        ORDER BY c.id DESC LIMIT :cap
    ) newest
    JOIN images i ON i.id = newest.id, q
    ORDER BY rank DESC, i.id LIMIT :limit
)
SELECT h.document_id, d.filename, h.page_index, h.rank,
       i.name || ': ' || ts_headline('simple', coalesce(i.description, ''), q.query, :opts) AS snippet
FROM hits h JOIN images i ON i.id = h.id JOIN documents d ON d.id = h.document_id, q
ORDER BY h.rank DESC, h.id
"""

_PG_TABLES = """
WITH q AS MATERIALIZED (SELECT to_tsquery('simple', :q) AS query),
hits AS (
    SELECT t.id, t.document_id, t.page_index, ts_rank(t.search_vector, q.query, 1) AS rank
    FROM (
        SELECT c.id FROM page_tables c, q
        WHERE c.search_vector @@ q.query AND (CAST(:doc AS integer) IS NULL OR c.document_id = :doc)
          AND (CAST(:coll AS text) IS NULL
               OR c.document_id IN (SELECT cd.id FROM documents cd WHERE cd.collection = :coll))
        ORDER BY c.id DESC LIMIT :cap
    ) newest
    JOIN page_tables t ON t.id = newest.id, q
    ORDER BY rank DESC, t.id LIMIT :limit
)
SELECT h.document_id, d.filename, h.page_index, h.rank,
       t.table_id || ': ' || ts_headline('simple', t.text, q.query, :opts) AS snippet
FROM hits h JOIN page_tables t ON t.id = h.id JOIN documents d ON d.id = h.document_id, q
ORDER BY h.rank DESC, h.id
"""
