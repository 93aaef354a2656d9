"""Every optional part of an OCR page reaches the results database: the Mistral provider against the loopback
server (answering as Mistral's API documents each request field), stored by persist.py on both databases."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.db import Database
from models.tables import Image, Page, PageBlock, PageTable
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.mistral_server import MistralServer, Structure
from tests.results_db import add_document
from worker.objects.folder import FolderStore
from worker.providers.base import OcrResult, SourceDocument
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions
from worker.ranges.persist import insert_prepared, prepare_result

KEY = "sk-fidelity-1"


def _confidence(text: str) -> float:
    """Page k of the sent document (its text starts "Page k ...") scores lower the higher k is."""
    seed = int(text.split()[1]) if text.startswith("Page ") else 0
    return round(0.95 - 0.1 * (seed % 5), 3)


def _ocr(tmp_path: Path, pages: int, model: str = "mistral-ocr-4-1", hook: Any = None,
         **options: Any) -> OcrResult:
    path = make_born_digital_pdf(tmp_path / "doc.pdf", [page_text(i) for i in range(pages)])
    source = SourceDocument(path, "application/pdf", "pdf", pages)
    with MistralServer(api_key=KEY, images_per_page=1, model=model, page_hook=hook,
                       structure=Structure(confidence_of=_confidence)) as srv:
        provider = MistralProvider(RequestOptions(model="mistral-ocr-latest", **options), api_key=KEY,
                                   base_url=srv.url, timeout_s=10)
        try:
            return provider.ocr(source, list(range(pages)))
        finally:
            provider.close()


def _store(db: Database, tmp_path: Path, result: OcrResult, name: str = "report.pdf") -> int:
    doc = add_document(db, name, [], status="running")
    prepared = prepare_result(FolderStore(tmp_path / "objects"), doc, 1, "mistral", result)
    with db.write_session() as s:
        insert_prepared(s, prepared)
    with db.write_session() as s:  # a redelivered range writes nothing twice
        insert_prepared(s, prepare_result(FolderStore(tmp_path / "objects"), doc, 1, "mistral", result))
    return doc


def _rows(db: Database, model: Any, doc: int) -> list[Any]:
    with db.read_session() as s:
        order = [model.page_index, model.seq] if model is PageBlock else [model.page_index, model.id]
        rows = list(s.scalars(select(model).where(model.document_id == doc).order_by(*order)))
        s.expunge_all()
        return rows


def test_tables_header_footer_links_blocks_and_scores_are_stored(both_databases: Database, tmp_path: Path) -> None:
    db = both_databases
    result = _ocr(tmp_path, 3, table_format="html", extract_header=True, extract_footer=True, include_blocks=True,
                  confidence_scores="block")
    doc = _store(db, tmp_path, result)

    pages, tables = _rows(db, Page, doc), _rows(db, PageTable, doc)
    blocks, images = _rows(db, PageBlock, doc), _rows(db, Image, doc)
    assert [p.page_index for p in pages] == [0, 1, 2]
    assert [t.table_id for t in tables] == ["tbl-0-0.html", "tbl-1-0.html", "tbl-2-0.html"]
    for page, table in zip(pages, tables, strict=True):
        assert page.header == "ACME Corporation quarterly report" and "ACME" not in page.markdown
        assert page.footer == "Confidential page footer" and "Confidential" not in page.markdown
        assert page.hyperlinks == ["https://example.com/terms"]
        assert page.confidence_avg == pytest.approx(_confidence(page_text(page.page_index)))
        assert page.confidence_min == pytest.approx(page.confidence_avg * 0.8)
        # the placeholder names the stored table, never the provider's id (ids restart in every request)
        assert f"[{table.table_id}]({table.table_id})" in page.markdown and "tbl-0.html]" not in page.markdown
        assert table.format == "html" and "<td>sprocket</td>" in table.content
        assert table.text == "Item Qty\nsprocket 3" and table.provider_id == f"tbl-{page.page_index}.html"
    by_page = {p: [b for b in blocks if b.page_index == p] for p in range(3)}
    assert [b.type for b in by_page[1]] == ["header", "text", "table", "image", "footer"]
    table_block, image_block = by_page[1][2], by_page[1][3]
    assert table_block.table_id == "tbl-1-0.html"
    assert image_block.image_id == next(i.name for i in images if i.page_index == 1)
    assert all(0 <= b.top_left_x <= b.bottom_right_x <= pages[1].width for b in by_page[1])
    assert table_block.confidence == pytest.approx(_confidence(page_text(1)))
    assert table_block.confidence_scores["block_type_confidence_score"] == pytest.approx(0.99)
    assert len(blocks) == 15


def test_markdown_tables_and_word_scores_point_into_the_stored_text(both_databases: Database,
                                                                     tmp_path: Path) -> None:
    db = both_databases
    result = _ocr(tmp_path, 2, table_format="markdown", confidence_scores="word")
    doc = _store(db, tmp_path, result)

    pages, tables = _rows(db, Page, doc), _rows(db, PageTable, doc)
    assert [(t.table_id, t.format) for t in tables] == [("tbl-0-0.md", "markdown"), ("tbl-1-0.md", "markdown")]
    assert tables[0].content.startswith("| Item | Qty |") and tables[0].text == "Item Qty\nsprocket 3"
    assert [w["text"] for w in tables[0].word_confidence] == ["Item", "Qty", "sprocket", "3"]
    for page in pages:
        assert page.header is None and page.markdown.startswith("ACME Corporation")  # not asked: in the text
        words = page.word_confidence
        assert len(words) > 50
        # offsets were moved with the renamed placeholders (img-1.png -> img-1-0.png, tbl-1.md -> tbl-1-0.md)
        p = page.page_index  # one request: the provider's ids are numbered by page, as pagemill's
        renamed = {f"![img-{p}.png](img-{p}.png)": f"![img-{p}-0.png](img-{p}-0.png)",
                   f"[tbl-{p}.md](tbl-{p}.md)": f"[tbl-{p}-0.md](tbl-{p}-0.md)"}
        for w in words:
            expected = renamed.get(w["text"], w["text"])
            assert page.markdown[w["start_index"]:w["start_index"] + len(expected)] == expected, w
        assert sum(w["text"] in renamed for w in words) == 2
    # include_blocks not sent: the API's default (true) applies, and no header/footer block without extraction
    assert [b.type for b in _rows(db, PageBlock, doc)] == ["text", "table", "image"] * 2


def test_inline_tables_stay_in_the_text(both_databases: Database, tmp_path: Path) -> None:
    db = both_databases
    result = _ocr(tmp_path, 1, model="mistral-ocr-2512", include_blocks=True)
    doc = _store(db, tmp_path, result)
    [page] = _rows(db, Page, doc)
    assert "| sprocket | 3 |" in page.markdown
    assert page.confidence_avg is None and page.word_confidence is None
    assert _rows(db, PageTable, doc) == [] and _rows(db, PageBlock, doc) == []


def _bad(page: dict[str, Any]) -> dict[str, Any]:
    """Everything the issue's "Bad input" lists, in one page."""
    page = dict(page)
    page["markdown"] += "\n\n[tbl-9.html](tbl-9.html)\n\n[../x](../x)"
    page["tables"] = [
        {"id": "../x", "content": "<table><tr><td>hostile relative</td></tr></table>", "format": "html"},
        {"id": "/etc/passwd", "content": "<table><tr><td>hostile absolute</td></tr></table>", "format": "html"},
        {"id": "../x", "content": "<table><tr><td>duplicate id</td></tr></table>", "format": "html"},
        {"id": "orphan.html", "content": "| a |\n|---|\n| orphan cell |", "format": "csv"},
        {"content": "no id at all"},
        "not an object",
    ]
    page["hyperlinks"] = ["https://ok.example", 42, {"url": "https://nested.example"}, None]
    w, h = page["dimensions"]["width"], page["dimensions"]["height"]
    page["blocks"] = [
        {"type": "hologram", "top_left_x": 1, "top_left_y": 1, "bottom_right_x": 5, "bottom_right_y": 5,
         "content": "a type from the future"},
        {"type": "text", "top_left_x": -40, "top_left_y": 0, "bottom_right_x": w + 500, "bottom_right_y": h * 3,
         "content": "outside the page", "confidence_scores": {"average_content_confidence_score": 7.5}},
        {"type": "image", "top_left_x": 0, "top_left_y": 0, "bottom_right_x": 9, "bottom_right_y": 9,
         "content": "", "image_id": "img-404.png"},
        {"type": 3, "content": None},
        "junk",
    ]
    page["confidence_scores"] = {"average_page_confidence_score": 1.7, "minimum_page_confidence_score": -0.2,
                                 "word_confidence_scores": [{"text": "Page", "confidence": "high",
                                                             "start_index": 0}, {"text": "x"}]}
    page["header"] = {"not": "text"}
    return page


def test_bad_optional_parts_are_kept_where_possible_and_logged(both_databases: Database, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    db = both_databases
    with caplog.at_level(logging.WARNING):
        result = _ocr(tmp_path, 1, hook=_bad, table_format="html", confidence_scores="word")
        doc = _store(db, tmp_path, result)

    [page] = _rows(db, Page, doc)
    tables, blocks = _rows(db, PageTable, doc), _rows(db, PageBlock, doc)
    assert page_text(0)[:30] in page.markdown  # the page itself is stored
    # pagemill's names, never the provider's: a hostile id only finds its placeholder
    assert [t.table_id for t in tables] == ["tbl-0-0.html", "tbl-0-1.html", "tbl-0-2.html", "tbl-0-3.md"]
    assert [t.provider_id for t in tables] == ["../x", "/etc/passwd", "../x", "orphan.html"]
    assert "[tbl-0-0.html](tbl-0-0.html)" in page.markdown and "](../x)" not in page.markdown
    assert "[tbl-9.html](tbl-9.html)" in page.markdown  # a placeholder without its table stays as text
    assert tables[3].format == "markdown" and tables[3].text == "a\norphan cell"
    assert page.hyperlinks == ["https://ok.example", "42"]
    assert page.header is None
    assert (page.confidence_avg, page.confidence_min) == (1.0, 0.0)  # clamped into 0..1
    assert page.word_confidence is None
    assert [b.type for b in blocks] == ["hologram", "text", "image", "unknown"]
    assert blocks[1].top_left_x == -40 and blocks[1].confidence == 1.0
    assert blocks[2].image_id == "img-404.png"
    assert not (tmp_path / "x").exists() and not any((tmp_path / "objects").rglob("*passwd*"))
    # what was kept still exports in the official shape (an unknown block type is the SDK's UnknownBlock)
    from mistralai.client.models import OCRResponse

    from scheduler.export.document import ocr_response

    [out] = OCRResponse.model_validate(ocr_response(db, FolderStore(tmp_path / "objects"), doc)).pages
    assert [t.id for t in out.tables] == [t.table_id for t in tables] and out.hyperlinks == page.hyperlinks
    assert len(out.blocks) == 4 and out.confidence_scores.average_page_confidence_score == 1.0
    log = caplog.text
    for expected in ("tbl-9.html", "no placeholder", "share the id", "without an id", "not strings",
                     "hologram", "outside the", "outside 0..1", "img-404.png", "not text", "word score"):
        assert expected in log, expected


def test_the_local_engine_scores_pages_and_the_text_layer_leaves_them_null(both_databases: Database,
                                                                            tmp_path: Path) -> None:
    from scheduler.samples import make_scanned_pdf
    from worker.providers.tesseract import TesseractProvider
    from worker.providers.textlayer_first import TextLayerFirst

    db = both_databases
    scanned = make_scanned_pdf(tmp_path / "scan.pdf", ["A clean scanned letter about the harvest"], dpi=200)
    digital = make_born_digital_pdf(tmp_path / "digital.pdf", [page_text(7)])
    provider = TextLayerFirst(TesseractProvider(dpi=200), mode="auto", dpi=200)
    try:
        ocr = provider.ocr(SourceDocument(scanned, "application/pdf", "pdf", 1), [0])
        layer = provider.ocr(SourceDocument(digital, "application/pdf", "pdf", 1), [0])
    finally:
        provider.close()
    [scanned_page] = _rows(db, Page, _store(db, tmp_path, ocr, "scan.pdf"))
    [layer_page] = _rows(db, Page, _store(db, tmp_path, layer, "digital.pdf"))
    assert scanned_page.source == "tesseract"
    assert 0.6 < scanned_page.confidence_avg <= 1.0 and 0 <= scanned_page.confidence_min <= scanned_page.confidence_avg
    assert layer_page.source == "text_layer" and layer_page.confidence_avg is None
