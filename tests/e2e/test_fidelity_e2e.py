"""End to end as a user would: `pagemill run` with the Mistral provider against the loopback server answering
tables, header, footer, links, blocks and block confidence; then the rows, `export` (json parsed with the
official SDK, md), `search` on a table cell and `review`, each through the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mistralai.client.models import OCRRequest, OCRResponse
from sqlalchemy import select

from models import Database, DatabaseSettings
from models.tables import Page, PageBlock, PageTable
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.mistral_server import MistralServer, Structure

KEY = "sk-fidelity-e2e-5c1d"


def _confidence(text: str) -> float:
    seed = int(text.split()[1]) if text.startswith("Page ") else 0
    return round(0.95 - 0.1 * seed, 3)  # page k of the original scores 0.95 - 0.1 k


@pytest.fixture
def server() -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY, images_per_page=1, model="mistral-ocr-4-1",
                       structure=Structure(confidence_of=_confidence)) as srv:
        yield srv


def _pagemill(data: Path, server: MistralServer, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_DATA_DIR": str(data), "PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url,
                "MISTRAL_API_KEY": KEY, "PAGEMILL_RATE_LIMIT": "50", "PAGEMILL_EMBEDDED_WORKERS": "2",
                "PAGEMILL_REQUEST_TIMEOUT_S": "10", "COLUMNS": "200"})
    out = subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_run_keeps_every_part_and_every_reader_sees_it(tmp_path: Path, server: MistralServer) -> None:
    data = tmp_path / "data"
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(k) for k in range(5)])

    _pagemill(data, server, "run", str(pdf), "--pages-per-task", "2", "--extract-header", "--extract-footer",
              "--confidence", "block")

    # what was asked: the defaults (html tables, blocks) and the flags, in the documented request fields
    assert len(server.received) == 3
    for rec in server.received:
        OCRRequest.model_validate(rec.body)
        assert (rec.body["table_format"], rec.body["extract_header"], rec.body["extract_footer"],
                rec.body["include_blocks"], rec.body["confidence_scores_granularity"]) == (
            "html", True, True, True, "block")

    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        pages = list(s.scalars(select(Page).order_by(Page.page_index)))
        tables = list(s.scalars(select(PageTable).order_by(PageTable.page_index)))
        blocks = list(s.scalars(select(PageBlock).order_by(PageBlock.page_index, PageBlock.seq)))
        assert [p.page_index for p in pages] == [0, 1, 2, 3, 4]
        assert all(p.header == "ACME Corporation quarterly report" for p in pages)
        assert [p.confidence_avg for p in pages] == pytest.approx([0.95, 0.85, 0.75, 0.65, 0.55])
        # ranges were sent as separate requests whose table ids restart at tbl-0: stored names are per page
        assert [t.table_id for t in tables] == [f"tbl-{k}-0.html" for k in range(5)]
        assert {t.provider_id for t in tables} == {"tbl-0.html", "tbl-1.html"}
        assert len(blocks) == 25 and {b.type for b in blocks} == {"header", "text", "table", "image", "footer"}
    db.dispose()

    json_path = tmp_path / "report.json"
    _pagemill(data, server, "export", "1", "--format", "json", "--out", str(json_path))
    parsed = OCRResponse.model_validate(json.loads(json_path.read_text()))
    for k, page in enumerate(parsed.pages):
        [table] = page.tables
        assert (table.id, table.format_) == (f"tbl-{k}-0.html", "html") and "<td>sprocket</td>" in table.content
        assert f"[{table.id}]({table.id})" in page.markdown
        assert (page.header, page.footer) == ("ACME Corporation quarterly report", "Confidential page footer")
        assert page.hyperlinks == ["https://example.com/terms"]
        assert page.confidence_scores.average_page_confidence_score == pytest.approx(0.95 - 0.1 * k)
        assert [b.type for b in page.blocks] == ["header", "text", "table", "image", "footer"]
        assert page.blocks[2].table_id == table.id and page.blocks[3].image_id == page.images[0].id
        assert page.blocks[2].confidence_scores.block_type_confidence_score == pytest.approx(0.99)

    _pagemill(data, server, "export", "1", "--format", "md", "--out", str(tmp_path / "md"))
    md = (tmp_path / "md" / "document.md").read_text()
    assert "tbl-" not in md and "ACME" not in md and "Confidential" not in md
    for k, section in enumerate(md.split("\n---\n")):
        # the table stands where its placeholder was: after the page's text, before the line that followed it
        text_at, table_at = section.index(page_text(k)[:30]), section.index("<td>sprocket</td>")
        assert text_at < table_at < section.index("End of page")
    _pagemill(data, server, "export", "1", "--format", "md", "--with-headers", "--out", str(tmp_path / "mdh"))
    with_headers = (tmp_path / "mdh" / "document.md").read_text()
    assert with_headers.count("ACME Corporation quarterly report") == 5
    assert with_headers.count("Confidential page footer") == 5

    found = _pagemill(data, server, "search", "sprocket")
    assert len(re.findall(r"\(table\)", found)) == 5 and "tbl-0-0.html" in found

    review = _pagemill(data, server, "review", "--below", "0.8")
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in review.splitlines() if "report.pdf" in line]
    assert [(r[2], r[3]) for r in rows] == [("4", "0.550"), ("3", "0.650"), ("2", "0.750")]
