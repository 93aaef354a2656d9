"""Pages the layout stage must survive: blank, all picture, a huge table, a huge page, and the stage itself
failing. Each still gives its text (or an honest empty page), never a failed range."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from tests.structure_docs import bar_chart_png
from worker.documents.render import MAX_RENDER_PIXELS, page_dpi, render_pages
from worker.layout import page as layout_page
from worker.providers.base import SourceDocument
from worker.providers.tesseract import TesseractProvider
from worker.providers.textlayer_first import TextLayerFirst


def _source(path: Path, kind: str = "pdf") -> SourceDocument:
    if kind == "image":
        return SourceDocument(path=path, mime_type="image/png", kind="image", page_count=1)
    with pdfium.PdfDocument(path) as pdf:
        n = len(pdf)
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=n)


@pytest.fixture(scope="module")
def engine() -> TesseractProvider:
    provider = TesseractProvider()
    yield provider
    provider.close()


def test_a_blank_scan_is_an_empty_page(engine: TesseractProvider, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (1700, 2200), 255).save(path, dpi=(200, 200))
    page = engine.ocr(_source(path, "image"), [0]).pages[0]
    assert page.markdown == "" and page.images == [] and page.header is None and page.confidence is None


def test_an_all_picture_page_is_one_figure(engine: TesseractProvider, tmp_path: Path) -> None:
    chart = Image.open(io.BytesIO(bar_chart_png(1200, 800))).convert("L")
    sheet = Image.new("L", (1700, 2200), 255)
    sheet.paste(chart, (250, 600))
    path = tmp_path / "chart.png"
    sheet.save(path, dpi=(200, 200))
    page = engine.ocr(_source(path, "image"), [0]).pages[0]
    assert len(page.images) == 1
    assert page.markdown == f"![{page.images[0].id}]({page.images[0].id})"
    im = page.images[0]
    assert im.top_left_x is not None and abs(im.top_left_x - 250) < 80
    assert [b.type for b in page.blocks or []] == ["image"]


def _big_table_pdf(path: Path, rows: int, cols: int) -> list[list[str]]:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    data = [[f"h{c}" for c in range(cols)]] + [[f"r{r}c{c}" for c in range(cols)] for r in range(rows)]
    style = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONT", (0, 0), (-1, -1), "Helvetica", 6),
                        ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)])
    SimpleDocTemplate(str(path), pagesize=letter, topMargin=20, bottomMargin=20).build(
        [Table(data, style=style, repeatRows=1)])
    return data


def test_a_huge_ruled_table_comes_back_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "table.pdf"
    data = _big_table_pdf(path, 80, 10)
    page = TextLayerFirst(TesseractProvider(), "only").ocr(_source(path), [0]).pages[0]
    lines = page.markdown.splitlines()
    assert lines[0] == "| " + " | ".join(data[0]) + " |"
    body = [ln for ln in lines if ln.startswith("| r")]
    assert body == ["| " + " | ".join(row) + " |" for row in data[1:len(body) + 1]]
    assert len(body) >= 60  # as many rows as fit on the page, each in its place


def test_a_very_large_page_is_rendered_under_the_pixel_cap(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "poster.pdf"
    c = canvas.Canvas(str(path), pagesize=(100 * 72, 100 * 72))  # a 100 x 100 inch poster
    c.setFont("Helvetica", 400)
    c.drawString(400, 3600, "POSTER")
    c.save()
    assert page_dpi(100 * 72, 100 * 72, 300) < 300
    rendered = next(iter(render_pages(_source(path), [0], 300)))
    assert rendered.image.width * rendered.image.height <= MAX_RENDER_PIXELS
    assert rendered.dpi == page_dpi(100 * 72, 100 * 72, 300)
    assert page_dpi(612, 792, 300) == 300  # a letter page keeps its dpi


def test_a_failing_layout_stage_keeps_the_plain_text_and_says_so(
    engine: TesseractProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler.samples import make_image

    path = make_image(tmp_path / "letter.png", "A short letter about the winter garden.", dpi=200)

    def broken(_page):  # type: ignore[no-untyped-def]  # a fault injected into the layout stage
        raise ValueError("boom")

    monkeypatch.setattr(layout_page, "analyse", broken)
    page = engine.ocr(_source(path, "image"), [0]).pages[0]
    assert page.markdown.startswith("A short letter about the winter garden.")
    assert "<!-- pagemill: layout analysis failed (ValueError); plain text kept -->" in page.markdown
    assert [b.type for b in page.blocks or []] == ["text"]
