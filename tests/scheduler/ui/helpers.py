"""A results database with real stored originals for the review page's tests: a two-page text PDF, a document
with a hostile name and hostile markdown, and a failed one."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import insert

from models.db import Database
from models.tables import Document, Image, Page, PageRange
from worker.objects.store import ObjectStore

__all__ = ["Library", "fill_library", "pdf_bytes", "HOSTILE_NAME", "HOSTILE_MARKDOWN"]

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">report.pdf'
HOSTILE_MARKDOWN = (
    "# Title <script>window.__pwned=2</script>\n\n"
    "[click me](javascript:window.__pwned=3) and [safe](https://example.org/)\n\n"
    "| a | b |\n|---|---|\n| <b onmouseover=\"window.__pwned=4\">cell</b> | <img src=x onerror=window.__pwned=5> |\n"
)


def pdf_bytes(lines_per_page: list[str]) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for text in lines_per_page:
        c.setFont("Helvetica", 18)
        c.drawString(72, 750, text)
        c.showPage()
    c.save()
    return buf.getvalue()


@dataclass
class Library:
    letters: int  # two pages, text stored
    hostile: int  # hostile name and markdown
    broken: int  # failed range on page 1 of 2


def _add(db: Database, objects: ObjectStore, tmp: Path, filename: str, pages: list[str],
         stored: list[str] | None, status: str = "done") -> int:
    src = tmp / f"src-{len(filename)}-{abs(hash(filename))}.pdf"
    src.write_bytes(pdf_bytes(pages))
    obj = objects.put_file(src)
    with db.write_session() as s:
        doc = Document(sha256=obj.sha256, filename=filename, object_path=obj.relpath, status=status,
                       mime_type="application/pdf", page_count=len(pages), size_bytes=obj.size)
        s.add(doc)
        s.flush()
        if stored:
            s.execute(insert(Page), [{"document_id": doc.id, "page_index": i, "markdown": md, "source": "tesseract"}
                                     for i, md in enumerate(stored)])
        return doc.id


def _add_image(db: Database, objects: ObjectStore, tmp: Path, doc: int, page: int, name: str) -> None:
    from PIL import Image as PILImage

    src = tmp / f"{doc}-{name}"
    PILImage.new("RGB", (40, 20), (200, 30, 30)).save(src, "PNG")
    obj = objects.put_file(src)
    with db.write_session() as s:
        s.add(Image(document_id=doc, page_index=page, name=name, path=obj.relpath, sha256=obj.sha256,
                    mime_type="image/png", width=40, height=20))


def fill_library(db: Database, objects: ObjectStore, tmp: Path) -> Library:
    objects.ensure()
    letters = _add(db, objects, tmp, "letters.pdf", ["Dear heron, page zero", "Yours, page one"],
                   ["Dear heron, the quarterly report follows.\n\n![img-0-0.png](img-0-0.png)",
                    "Yours sincerely, the committee"])
    _add_image(db, objects, tmp, letters, 0, "img-0-0.png")
    hostile = _add(db, objects, tmp, HOSTILE_NAME, ["hostile"], [HOSTILE_MARKDOWN])
    broken = _add(db, objects, tmp, "broken.pdf", ["first", "second"], ["first page ok"], status="partial")
    with db.write_session() as s:
        s.add(PageRange(document_id=broken, seq=1, pages=[1], first_page=1, last_page=1, status="failed",
                        attempts=4, error="the provider rejected the request: page too large",
                        error_code="rejected"))
    return Library(letters, hostile, broken)
