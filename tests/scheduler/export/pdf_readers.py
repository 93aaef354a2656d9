"""Reading a written PDF back with readers pagemill did not write: PDFium's words with their boxes, Poppler's
pdftotext; and the intersection over union of boxes."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

PDFTOTEXT = shutil.which("pdftotext")
NO_PDFTOTEXT = "Poppler's pdftotext is not installed (apt-get install poppler-utils; .ci/run installs it)"

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, y up


@dataclass
class PdfWord:
    text: str
    box: Box


def pdfium_words(path: Path) -> list[list[PdfWord]]:
    """Per page, PDFium's words (split at white space) with the union of their characters' tight boxes."""
    out: list[list[PdfWord]] = []
    pdf = pdfium.PdfDocument(path)
    try:
        for page in pdf:
            tp = page.get_textpage()
            words: list[PdfWord] = []
            text, box = "", None
            for i in range(tp.count_chars()):
                ch = chr(pdfium_c.FPDFText_GetUnicode(tp.raw, i))
                if ch.isspace() or ch == "\x00":
                    if text:
                        words.append(PdfWord(text, box))  # type: ignore[arg-type]
                    text, box = "", None
                    continue
                left, bottom, right, top = tp.get_charbox(i)
                text += ch
                box = (left, bottom, right, top) if box is None else (
                    min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top))
            if text:
                words.append(PdfWord(text, box))  # type: ignore[arg-type]
            out.append(words)
            tp.close()
            page.close()
    finally:
        pdf.close()
    return out


def pdftotext(path: Path) -> list[str]:
    """Poppler's text of each page."""
    assert PDFTOTEXT is not None
    done = subprocess.run([PDFTOTEXT, "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.split("\f")[:-1] if "\f" in done.stdout else [done.stdout]


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def jpeg_bytes(image: object) -> bytes:
    """The JPEG an image XObject carries: its raw bytes, inflated first when a Flate layer wraps them."""
    import zlib

    import pikepdf

    raw = image.read_raw_bytes()  # type: ignore[attr-defined]
    filters = image.Filter  # type: ignore[attr-defined]
    filters = list(filters) if isinstance(filters, pikepdf.Array) else [filters]
    if filters[0] == pikepdf.Name.FlateDecode:
        raw, filters = zlib.decompress(raw), filters[1:]
    assert filters == [pikepdf.Name.DCTDecode], filters
    return raw
