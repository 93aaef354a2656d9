"""The local engine's structure, as a user reads it: markdown headings, table rows, list items, figures with
their images, header and footer apart, typed blocks with boxes and page confidence, on text layers and scans.

Documents come from tests/structure_docs.py (reportlab, then rasterised with skew and noise)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from tests.structure_docs import make_paper, make_report, scan_pdf
from worker.layout import PageOptions
from worker.providers.base import OcrPage, SourceDocument
from worker.providers.tesseract import TesseractProvider
from worker.providers.textlayer_first import TextLayerFirst

REPORT_LINES = [
    "# Quarterly Delivery Report",
    "## Summary",
    "## Method",
    "1. Collect the weekly counts",
    "2. Compare them with last year",
    "## Results",
    "| Region | Orders | Late | Cost |",
    "| North | 1200 | 31 | 4.10 |",
    "| South | 980 | 45 | 4.60 |",
    "| East | 1105 | 28 | 3.95 |",
    "Figure 1: Orders per region.",
    "## Next steps",
    "- Replace the sorting machines in the west",
    "- Train the night shift on the new scanners",
    "- Publish the delivery figures every month",
    "| Week | Parcels | Returns |",
    "| 1 | 5210 | 88 |",
    "| 2 | 5480 | 91 |",
]


def _pdf(path: Path) -> SourceDocument:
    with pdfium.PdfDocument(path) as pdf:
        n = len(pdf)
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=n)


class _NoOcr:
    name = "none"

    def ocr(self, source, pages):  # type: ignore[no-untyped-def]
        raise AssertionError("a good text layer must not be OCR'd")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("structure")
    out = {"report": folder / "report.pdf", "paper": folder / "paper.pdf"}
    make_report(out["report"])
    make_paper(out["paper"])
    out["report-scan"] = scan_pdf(out["report"], folder / "report-scan.pdf", dpi=200)
    out["paper-scan"] = scan_pdf(out["paper"], folder / "paper-scan.pdf", dpi=200)
    return out


APART = PageOptions(extract_header=True, extract_footer=True)


@pytest.fixture(scope="module")
def engine() -> TesseractProvider:
    provider = TesseractProvider(options=APART)
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def pages(docs: dict[str, Path], engine: TesseractProvider) -> dict[str, OcrPage]:
    layer = TextLayerFirst(_NoOcr(), "only", options=APART)  # type: ignore[arg-type]
    return {
        "report": layer.ocr(_pdf(docs["report"]), [0]).pages[0],
        "paper": layer.ocr(_pdf(docs["paper"]), [0]).pages[0],
        "report-scan": engine.ocr(_pdf(docs["report-scan"]), [0]).pages[0],
        "paper-scan": engine.ocr(_pdf(docs["paper-scan"]), [0]).pages[0],
    }


@pytest.mark.parametrize("name", ["report", "report-scan"])
def test_report_markdown_has_headings_lists_tables_and_a_figure(pages: dict[str, OcrPage], name: str) -> None:
    page = pages[name]
    lines = page.markdown.splitlines()
    for expected in REPORT_LINES:
        assert expected in lines, (expected, page.markdown)
    # the order a reader meets them in
    positions = [lines.index(e) for e in REPORT_LINES]
    assert positions == sorted(positions)
    assert lines.count("|---|---|---|---|") == 1 and lines.count("|---|---|---|") == 1
    assert any(ln.startswith("The committee reviewed the quarterly figures") and ln.endswith("the same staff.")
               for ln in lines), "a wrapped paragraph comes back as one line"
    assert "consecutive" in page.markdown and "equipment" in page.markdown  # hyphenation undone
    assert "equip-" not in page.markdown and "one-off" in page.markdown  # a real hyphen stays


@pytest.mark.parametrize("name", ["report", "report-scan"])
def test_figure_is_cut_out_and_linked(pages: dict[str, OcrPage], name: str) -> None:
    page = pages[name]
    assert len(page.images) == 1
    image = page.images[0]
    assert f"![{image.id}]({image.id})" in page.markdown
    assert image.data is not None
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.width > 100 and im.height > 50
    assert page.width and image.bottom_right_x is not None and image.top_left_x is not None
    # the chart sits in the middle third of the page, below the ruled table
    assert page.width * 0.2 < (image.top_left_x + image.bottom_right_x) / 2 < page.width * 0.8


@pytest.mark.parametrize("name", ["report", "report-scan"])
def test_header_and_footer_are_kept_apart(pages: dict[str, OcrPage], name: str) -> None:
    page = pages[name]
    assert page.header == "Northwind Logistics - internal"
    assert page.footer == "Page 1"
    assert "Northwind Logistics" not in page.markdown and "Page 1" not in page.markdown


@pytest.mark.parametrize("name", ["report", "report-scan"])
def test_blocks_are_typed_with_boxes_in_page_pixels(pages: dict[str, OcrPage], name: str) -> None:
    page = pages[name]
    assert page.blocks is not None
    types = [b.type for b in page.blocks]
    for kind in ("title", "text", "list", "table", "image", "caption", "header", "footer"):
        assert kind in types, (kind, types)
    assert page.width and page.height
    for b in page.blocks:
        assert b.top_left_x is not None and b.bottom_right_x is not None
        assert b.top_left_y is not None and b.bottom_right_y is not None
        assert 0 <= b.top_left_x < b.bottom_right_x <= page.width
        assert 0 <= b.top_left_y < b.bottom_right_y <= page.height
    title = next(b for b in page.blocks if b.type == "title")
    assert title.content == "# Quarterly Delivery Report"
    image_block = next(b for b in page.blocks if b.type == "image")
    assert image_block.image_id == page.images[0].id
    header = next(b for b in page.blocks if b.type == "header")
    assert header.bottom_right_y is not None and header.bottom_right_y < title.top_left_y  # type: ignore[operator]


def test_scans_carry_page_and_word_confidence(pages: dict[str, OcrPage]) -> None:
    conf = pages["report-scan"].confidence
    assert conf is not None and conf.average is not None and conf.minimum is not None and conf.words
    assert 0.5 < conf.average <= 1.0 and 0 <= conf.minimum <= conf.average
    markdown = pages["report-scan"].markdown
    placed = [w for w in conf.words if w["start_index"] is not None]
    assert len(placed) > 0.9 * len(conf.words)
    for w in placed[:50]:
        assert markdown[w["start_index"]:w["start_index"] + len(w["text"])] == w["text"]
    assert pages["report"].confidence is None  # a text layer is read, not recognised


@pytest.mark.parametrize("name", ["paper", "paper-scan"])
def test_two_columns_are_read_left_then_right(pages: dict[str, OcrPage], name: str) -> None:
    md = pages[name].markdown
    lines = md.splitlines()
    assert lines[0] == "# Reading Structure from Scanned Records"
    assert "Ada Lovelace and Charles Babbage, Analytical Engines Ltd" in lines  # one line, not fragments
    heads = ["## 1 Introduction", "## 2 Related Work", "## 3 Method", "## 4 Results"]
    positions = [lines.index(h) for h in heads]
    assert positions == sorted(positions)
    # a paragraph wrapped over five lines of its column comes back whole, before the right column's text
    whole = [ln for ln in lines if ln.startswith("Large collections of scanned records")]
    assert len(whole) == 1 and "keeps the structure a reader relies on." in whole[0]
    assert md.index("Large collections") < md.index("Our method groups the words")


def test_a_lone_page_number_is_the_footer(pages: dict[str, OcrPage]) -> None:
    assert pages["paper"].footer == "1"  # (Tesseract does not read a lone small digit on the 200 dpi scan)


def test_footnote_marks_stay_inline(pages: dict[str, OcrPage]) -> None:
    assert "a reader relies on.<sup>1</sup>" in pages["paper"].markdown
    assert not re.search(r"^\s*1\s*$", pages["paper"].markdown, re.MULTILINE)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_turned_scans_are_read_upright(docs: dict[str, Path], engine: TesseractProvider, tmp_path: Path,
                                       degrees: int) -> None:
    turned = scan_pdf(docs["report"], tmp_path / "turned.pdf", dpi=150, rotate=degrees)
    page = engine.ocr(_pdf(turned), [0]).pages[0]
    lines = page.markdown.splitlines()
    assert "# Quarterly Delivery Report" in lines and "## Results" in lines
    assert any(ln.startswith("| North | 1200 | 31 |") for ln in lines)
    assert "- Replace the sorting machines in the west" in lines
    assert (page.width or 0) < (page.height or 0)  # boxes refer to the upright page


def test_tables_come_out_of_the_markdown_when_a_table_format_is_asked(docs: dict[str, Path]) -> None:
    layer = TextLayerFirst(_NoOcr(), "only", options=PageOptions(table_format="html"))  # type: ignore[arg-type]
    page = layer.ocr(_pdf(docs["report"]), [0]).pages[0]
    assert [t.id for t in page.tables] == ["tbl-0.html", "tbl-1.html"]
    assert "[tbl-0.html](tbl-0.html)" in page.markdown and "| North |" not in page.markdown
    assert "<tr><td>North</td><td>1200</td><td>31</td><td>4.10</td></tr>" in page.tables[0].content
    table_block = next(b for b in page.blocks or [] if b.type == "table")
    assert table_block.table_id == "tbl-0.html"


def test_by_default_the_running_header_and_footer_stay_in_the_text(docs: dict[str, Path]) -> None:
    layer = TextLayerFirst(_NoOcr(), "only", options=PageOptions(confidence="page"))  # type: ignore[arg-type]
    page = layer.ocr(_pdf(docs["report"]), [0]).pages[0]
    lines = page.markdown.splitlines()
    assert lines[0] == "Northwind Logistics - internal" and lines[-1] == "Page 1"
    assert page.header is None and page.footer is None
    assert [b.type for b in page.blocks or []][-2:] == ["header", "footer"]  # still typed as what they are


def test_page_confidence_without_the_word_list_when_words_are_not_asked(docs: dict[str, Path]) -> None:
    engine = TesseractProvider(options=PageOptions(confidence="page"))
    try:
        page = engine.ocr(_pdf(docs["paper-scan"]), [0]).pages[0]
    finally:
        engine.close()
    assert page.confidence is not None and page.confidence.average and page.confidence.words is None


def test_a_vector_chart_in_a_text_layer_is_rendered_as_a_figure(tmp_path: Path) -> None:
    from reportlab.graphics.shapes import Drawing, Line, Rect
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    chart = Drawing(300, 180)
    chart.add(Line(20, 20, 280, 20))
    chart.add(Line(20, 20, 20, 170))
    for i, h in enumerate([50, 120, 80, 140]):
        chart.add(Rect(40 + i * 60, 20, 40, h))
    styles = getSampleStyleSheet()
    path = tmp_path / "vector.pdf"
    SimpleDocTemplate(str(path)).build([Paragraph("Text before the chart.", styles["BodyText"]), chart,
                                        Paragraph("Text after the chart.", styles["BodyText"])])
    page = TextLayerFirst(_NoOcr(), "only").ocr(_pdf(path), [0]).pages[0]  # type: ignore[arg-type]
    assert len(page.images) == 1 and page.images[0].data
    image = page.images[0]
    assert page.markdown == f"Text before the chart.\n\n![{image.id}]({image.id})\n\nText after the chart."
    with Image.open(io.BytesIO(image.data or b"")) as im:
        # 300 x 180 pt drawn, its paths span 260 x 150 pt: at 300 dpi about 1083 x 625 px
        assert abs(im.width - 1083) < 40 and abs(im.height - 625) < 40
