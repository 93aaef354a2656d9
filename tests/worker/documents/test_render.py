"""Pages reach the engine as images: scans straight from their stored image, everything else rendered."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageChops, ImageStat

from scheduler.samples import make_born_digital_pdf, make_scanned_pdf, page_text, render_text_image
from worker.documents.render import render_pages
from worker.providers.base import SourceDocument


def _source(path: Path, pages: int) -> SourceDocument:
    return SourceDocument(path, "application/pdf", "pdf", pages)


def test_a_scanned_page_is_read_from_its_image_at_the_scan_resolution(tmp_path: Path) -> None:
    text = page_text(7)
    pdf = make_scanned_pdf(tmp_path / "scan.pdf", [text], dpi=250)
    (page,) = render_pages(_source(pdf, 1), [0])
    original = render_text_image(text, dpi=250)
    assert page.dpi == 250
    assert page.image.size == original.size
    # the same picture (Pillow stores it as JPEG, so allow its small losses)
    diff = ImageChops.difference(page.image.convert("L"), original)
    assert ImageStat.Stat(diff).mean[0] < 2.0


def test_a_low_resolution_scan_is_rendered_at_300_dpi(tmp_path: Path) -> None:
    pdf = make_scanned_pdf(tmp_path / "fax.pdf", [page_text(8)], dpi=100)
    (page,) = render_pages(_source(pdf, 1), [0])
    assert page.dpi == 300
    assert abs(page.image.size[0] - 2550) <= 1 and abs(page.image.size[1] - 3300) <= 1


def test_a_born_digital_page_is_rendered_at_300_dpi(tmp_path: Path) -> None:
    pdf = make_born_digital_pdf(tmp_path / "text.pdf", [page_text(9)])
    (page,) = render_pages(_source(pdf, 1), [0])
    assert page.dpi == 300
    assert abs(page.image.size[0] - 2550) <= 1 and abs(page.image.size[1] - 3300) <= 1
    assert page.image.getextrema()[0] < 128  # some dark text was drawn
