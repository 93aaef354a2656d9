"""The SQLite results database opens in the real Datasette, with full-text search on pages and images."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from models.tables import Image, Page, PageTable
from tests.conftest import stop_process, wait_until
from tests.results_db import add_document, migrated_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def datasette(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "pagemill.sqlite"
    db = migrated_database(f"sqlite:///{path}")
    doc = add_document(db, "invoice-2024.pdf", ["Invoice 117 from Northwind, total due 1250 EUR",
                                               "Terms: payment within thirty days"])
    add_document(db, "minutes.pdf", ["Minutes of the board meeting"])
    with db.write_session() as s:
        s.add(Image(document_id=doc, page_index=1, name="img-1-0.png", path="images/aa/x.png", sha256="a" * 64,
                    mime_type="image/png"))
    with db.write_session() as s:
        s.execute(update(Image).values(description="a company logo with a lighthouse"))
        s.add(PageTable(document_id=doc, page_index=0, table_id="tbl-0-0.html", format="html",
                        content="<table><tr><td>Anchor chain</td><td>2</td></tr></table>", text="Anchor chain 2"))
        s.execute(update(Page).where(Page.page_index == 0).values(confidence_avg=0.9, confidence_min=0.4))
        s.execute(update(Page).where(Page.document_id == doc, Page.page_index == 1)
                  .values(confidence_avg=0.55, confidence_min=0.1))
    db.dispose()  # the last connection closing checkpoints the WAL into the file

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "datasette", "serve", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"datasette exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(f"{base}/-/versions.json", timeout=2).read()
            return True
        except OSError:
            return False

    try:
        assert wait_until(up, timeout_s=30), "datasette did not start"
        yield base
    finally:
        stop_process(proc)  # type: ignore[arg-type]


def get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_search_box_finds_pages(datasette: str) -> None:
    rows = get(datasette, "/pagemill/pages.json", _search="northwind", _shape="array")
    assert [(r["document_id"], r["page_index"]) for r in rows] == [(1, 0)]
    assert "Northwind" in rows[0]["markdown"]

    assert get(datasette, "/pagemill/pages.json", _search='"unbalanced', _shape="array") == []


def test_search_box_finds_image_descriptions(datasette: str) -> None:
    rows = get(datasette, "/pagemill/images.json", _search="lighthouse", _shape="array")
    assert [r["name"] for r in rows] == ["img-1-0.png"]


def test_views_and_sql_are_queryable(datasette: str) -> None:
    rows = get(datasette, "/pagemill/document_overview.json", _shape="array")
    assert {(r["filename"], r["pages_stored"]) for r in rows} == {("invoice-2024.pdf", 2), ("minutes.pdf", 1)}
    result = get(datasette, "/pagemill.json", _shape="array",
                 sql="select d.filename, p.page_index from pages_fts join pages p on p.id = pages_fts.rowid "
                     "join documents d on d.id = p.document_id where pages_fts match 'board'")
    assert result == [{"filename": "minutes.pdf", "page_index": 0}]


def test_search_box_finds_table_cells_and_the_review_queue_is_a_view(datasette: str) -> None:
    rows = get(datasette, "/pagemill/page_tables.json", _search="anchor", _shape="array")
    assert [(r["table_id"], r["page_index"]) for r in rows] == [("tbl-0-0.html", 0)]
    queue = get(datasette, "/pagemill/review_queue.json", _shape="array")
    assert [(r["filename"], r["page_index"]) for r in queue] == [
        ("invoice-2024.pdf", 1), ("invoice-2024.pdf", 0), ("minutes.pdf", 0)]
