"""Born-digital PDFs written the way offices and governments write them, for the text-layer word tests.

Each maker draws one page the hard way: the size in the text matrix with `1 Tf`, every glyph placed on its own,
letter spacing (`Tc`), horizontal scaling (`Tz`), a CID font, a Type 3 font, text drawn twice for a fake bold,
right-to-left scripts in the visual order many producers store, Chinese without spaces, text over a full-page
picture, a landscape page turned by `/Rotate`. The page still reads as the words given: a viewer shows them,
and PDFium's own text of the page has them whole.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

__all__ = [
    "DEJAVU",
    "WORDS",
    "matrix_sized_pdf",
    "glyph_by_glyph_pdf",
    "char_spaced_pdf",
    "scaled_pdf",
    "cid_font_pdf",
    "type3_pdf",
    "fake_bold_pdf",
    "script_pdf",
    "over_picture_pdf",
    "rotated_pdf",
]

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WORDS = "Federal Register proposed rules aircraft accident investigation"


def _canvas(path: Path, rotate: int = 0):  # type: ignore[no-untyped-def]
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter, pageCompression=0)
    if rotate:
        c.setPageRotation(rotate)
    return c


def matrix_sized_pdf(path: Path, text: str = WORDS) -> Path:
    """`1 Tf` and the size in the text matrix, as Word's and many government producers' PDFs set it."""
    c = _canvas(path)
    t = c.beginText()
    t.setFont("Helvetica", 1)
    for n in range(3):
        t.setTextTransform(11, 0, 0, 11, 72, 700 - 16 * n)
        t.textOut(text)
    c.drawText(t)
    c.save()
    return path


def glyph_by_glyph_pdf(path: Path, text: str = WORDS) -> Path:
    """Every glyph drawn on its own at its own position, spaces left out (as many report writers do)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    c = _canvas(path)
    c.setFont("Times-Roman", 12)
    for n in range(3):
        x, y = 72.0, 700.0 - 16 * n
        for ch in text:
            if ch != " ":
                c.drawString(x, y, ch)
            x += stringWidth(ch, "Times-Roman", 12)
    c.save()
    return path


def char_spaced_pdf(path: Path, text: str = WORDS, spacing: float = 1.5) -> Path:
    """Letter spacing with `Tc`: a spaced-out title, and body text with a little tracking."""
    c = _canvas(path)
    t = c.beginText(72, 700)
    t.setFont("Helvetica-Bold", 14)
    t.setCharSpace(spacing)
    t.textLine(text.upper())
    t.setFont("Helvetica", 10)
    t.setCharSpace(0.6)
    t.textLine(text)
    c.drawText(t)
    c.save()
    return path


def scaled_pdf(path: Path, text: str = WORDS) -> Path:
    """Horizontal scaling (`Tz`): condensed and expanded lines."""
    c = _canvas(path)
    t = c.beginText(72, 700)
    t.setFont("Helvetica", 11)
    for scale in (60, 150):
        t.setHorizScale(scale)
        t.textLine(text)
    c.drawText(t)
    c.save()
    return path


def cid_font_pdf(path: Path, text: str = "东北电气发展股份有限公司年度报告全文，重要提示：公司董事会保证报告内容真实。") -> Path:
    """Chinese in a CID font (Adobe's STSong-Light with the UniGB-UCS2-H map), written without spaces."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = _canvas(path)
    c.setFont("STSong-Light", 14)
    for n in range(4):
        c.drawString(72, 700 - 22 * n, text)
    c.save()
    return path


def type3_pdf(path: Path, text: str = "hello world") -> Path:
    """A Type 3 font (glyphs drawn by content streams, as TeX's bitmap fonts and some plotting tools write
    them), with glyph names that say which letter each is. Written by hand: no library here writes Type 3."""
    letters = sorted(set(text.replace(" ", "")))
    procs = {ch: f"{500} 0 0 0 400 600 d1 50 0 400 600 re f".encode() for ch in letters}
    codes = {ch: ord(ch) for ch in letters} | {" ": 32}
    stream = "BT /T3 12 Tf 72 700 Td (" + "".join(chr(codes[ch]) for ch in text) + ") Tj ET"
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    proc_ids = {ch: add(b"<< /Length %d >>\nstream\n" % len(p) + p + b"\nendstream") for ch, p in procs.items()}
    char_procs = " ".join(f"/{ch} {proc_ids[ch]} 0 R" for ch in letters)
    diffs = "32 /space " + " ".join(f"{codes[ch]} /{ch}" for ch in letters)
    last = max(codes.values())
    widths = " ".join("500" for _ in range(32, last + 1))
    font = add((f"<< /Type /Font /Subtype /Type3 /FontBBox [0 0 500 600] /FontMatrix [0.001 0 0 0.001 0 0] "
                f"/CharProcs << {char_procs} >> /Encoding << /Type /Encoding /Differences [{diffs}] >> "
                f"/FirstChar 32 /LastChar {last} /Widths [{widths}] /Resources << >> >>").encode())
    content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream.encode() + b"\nendstream")
    pages_id = len(objects) + 2
    page = add(f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
               f"/Resources << /Font << /T3 {font} 0 R >> >> >>".encode())
    add(f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode())
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref))
    path.write_bytes(out.getvalue())
    return path


def fake_bold_pdf(path: Path, text: str = WORDS) -> Path:
    """A heading made bold by drawing it twice, the second time a third of a point to the right."""
    c = _canvas(path)
    c.setFont("Helvetica", 16)
    c.drawString(72, 700, text)
    c.drawString(72.3, 700, text)
    c.setFont("Helvetica", 11)
    c.drawString(72, 670, "The body text under the heading is drawn once.")
    c.save()
    return path


def script_pdf(path: Path, lines: list[str], visual_order: bool = False, size: float = 14) -> Path:
    """Lines in any script in DejaVu Sans (Arabic, Hebrew, Greek, Cyrillic). With `visual_order`, each line is
    stored reversed, the order in which a right-to-left line is laid out from left to right (as many
    producers write Arabic and Hebrew)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU)))
    c = _canvas(path)
    c.setFont("DejaVuSans", size)
    for n, line in enumerate(lines):
        c.drawString(72, 700 - size * 1.6 * n, line[::-1] if visual_order else line)
    c.save()
    return path


def over_picture_pdf(path: Path, text: str = WORDS, cover: float = 1.0) -> Path:
    """A page printed over a picture covering `cover` of its height (a letterhead or a full-page
    background), its text drawn on top in ordinary visible text."""
    from reportlab.lib.utils import ImageReader

    img = Image.new("RGB", (850, 1100), (236, 242, 250))
    for x in range(0, 850, 50):
        for y in range(0, 1100, 50):
            img.putpixel((x, y), (40, 60, 200))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    c = _canvas(path)
    height = 792 * cover
    c.drawImage(ImageReader(io.BytesIO(buf.getvalue())), 0, 792 - height, 612, height)
    c.setFont("Helvetica", 12)
    for n in range(8):
        c.drawString(72, 700 - 18 * n, f"{text} line {n + 1}")
    c.save()
    return path


def rotated_pdf(path: Path, text: str = WORDS) -> Path:
    """A page turned by `/Rotate 90` over text drawn across it, as some spreadsheets are printed to PDF: a
    viewer shows the lines running down the page, and a reader turns it to read them."""
    c = _canvas(path, rotate=90)
    c.setFont("Helvetica", 10)
    for n in range(12):
        c.drawString(72, 560 - 20 * n, f"{text} row {n + 1}")  # (reportlab makes the media box 792 x 612)
    c.save()
    return path
