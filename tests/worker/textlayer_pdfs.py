"""PDFs for the text-layer tests: broken text layers, hyphenated lines, an embedded picture, mixed documents.

A broken layer is made the way real ones break: text drawn with an embedded TrueType subset (reportlab, the
Vera font it ships) whose ToUnicode map is then rewritten in the PDF bytes, so the page still *looks* right
(OCR reads it) while its text layer says something else.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium

__all__ = ["make_broken_layer_pdf", "make_hyphenated_pdf", "make_picture_pdf", "join_pdfs", "PICTURE_BOX_PT"]

_TOUNICODE_ENTRY = re.compile(rb"<([0-9A-F]{2})> <00([0-9A-F]{2})>")
PICTURE_BOX_PT = (144.0, 400.0, 432.0, 592.0)  # left, bottom, right, top in PDF points on a letter page


def _vera() -> str:
    import reportlab

    return str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")


def _draw_pages(path: Path, texts: Sequence[str], font: str, size: float = 12) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter, pageCompression=0)
    for text in texts:
        c.setFont(font, size)
        y = 720.0
        for para in text.split("\n\n"):
            for line in textwrap.wrap(para, 75):
                c.drawString(72, y, line)
                y -= size * 1.4
            y -= size
        c.showPage()
    c.save()


def _garble(entry: re.Match[bytes], how: str) -> bytes:
    code, dest = entry.group(1), int(entry.group(2), 16)
    if how == "control":
        # what a font without a usable map gives: control characters instead of letters
        new = (dest % 0x1E) + 1 if dest > 0x20 else dest
    else:
        # a shifted alphabet: every letter is the wrong one, the text reads as nonsense words
        if 0x61 <= dest <= 0x7A:
            new = 0x61 + (dest - 0x61 + 7) % 26
        elif 0x41 <= dest <= 0x5A:
            new = 0x41 + (dest - 0x41 + 7) % 26
        else:
            new = dest
    return b"<" + code + b"> <00" + f"{new:02X}".encode() + b">"


def make_broken_layer_pdf(path: Path, texts: Sequence[str], how: str = "control") -> Path:
    """Pages that show `texts` but whose text layer is garbage: `how` is "control" or "shifted"."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("VeraGarbled", _vera()))
    _draw_pages(path, texts, "VeraGarbled")
    data = path.read_bytes()
    garbled, n = _TOUNICODE_ENTRY.subn(lambda m: _garble(m, how), data)  # same length: xref stays valid
    assert n > 0 and len(garbled) == len(data), "reportlab wrote no uncompressed ToUnicode map"
    path.write_bytes(garbled)
    return path


def make_hyphenated_pdf(path: Path, lines: Sequence[str]) -> Path:
    """One page with the given lines drawn one under the other (Helvetica), e.g. a word hyphenated at a line end."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica", 12)
    y = 720.0
    for line in lines:
        if line:
            c.drawString(72, y, line)
        y -= 15
    c.showPage()
    c.save()
    return path


def make_picture_pdf(path: Path, above: str, below: str) -> Path:
    """A born-digital page: a paragraph, a 600x400 px RGB picture in PICTURE_BOX_PT, another paragraph."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    picture = Image.new("RGB", (600, 400), (30, 120, 200))
    ImageDraw.Draw(picture).ellipse((100, 50, 500, 350), fill=(240, 200, 40))
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica", 12)
    c.drawString(72, 700, above)
    left, bottom, right, top = PICTURE_BOX_PT
    c.drawImage(ImageReader(picture), left, bottom, right - left, top - bottom)
    c.drawString(72, 350, below)
    c.showPage()
    c.save()
    return path


def join_pdfs(path: Path, parts: Sequence[Path]) -> Path:
    """One PDF with the pages of `parts`, in order."""
    out = pdfium.PdfDocument.new()
    for part in parts:
        src = pdfium.PdfDocument(part)
        out.import_pages(src)
        src.close()
    out.save(path)
    out.close()
    return path
