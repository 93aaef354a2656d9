"""PDFs with filled forms and free-text annotations for the form tests, made the ways real ones are made: a
form filled in a viewer (reportlab's AcroForm fields, with appearance streams), a form whose viewer must draw
the fields itself (`NeedAppearances`, no appearance streams), a scanned form filled on screen, and a free-text
annotation typed onto a page (added with PDFium's annotation API).
"""

from __future__ import annotations

import ctypes
import io
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from scheduler.samples import render_text_image

__all__ = ["make_filled_form", "make_scanned_form", "make_unrendered_form", "add_free_text"]


def make_filled_form(path: Path, printed_value: bool = False) -> Path:
    """A library-card application: two filled text fields, an empty one, a hidden one, a password, a ticked
    and an unticked box. With `printed_value`, the name is also printed in the page content under its field
    (a form printed with its values and its widgets kept)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica", 12)
    c.drawString(72, 720, "Application for a library card")
    c.drawString(72, 680, "Full name:")
    if printed_value:
        c.drawString(164, 679, "Margaret Hamilton")
    c.acroForm.textfield(name="full_name", value="Margaret Hamilton", x=160, y=672, width=250, height=22,
                         fontSize=12, borderWidth=0)
    c.drawString(72, 630, "City:")
    c.acroForm.textfield(name="city", value="Boston", x=160, y=622, width=250, height=22, fontSize=12)
    c.drawString(72, 580, "Phone:")
    c.acroForm.textfield(name="phone", value="", x=160, y=572, width=250, height=22, fontSize=12)
    c.acroForm.textfield(name="clerk_note", value="internal reference 7781", x=160, y=530, width=250,
                         height=22, fontSize=12, annotationFlags="hidden")
    c.drawString(72, 480, "PIN:")
    c.acroForm.textfield(name="pin", value="4321", x=160, y=472, width=100, height=22, fontSize=12,
                         fieldFlags="password")
    c.drawString(72, 420, "Member before")
    c.acroForm.checkbox(name="member", checked=True, x=180, y=415, size=14)
    c.drawString(72, 360, "Newsletter")
    c.acroForm.checkbox(name="newsletter", checked=False, x=180, y=355, size=14)
    c.showPage()
    c.save()
    return path


def make_scanned_form(path: Path, scanned_text: str, value: str) -> Path:
    """A scanned page (one full-page 300 dpi picture, no text layer) with a text field filled in on screen
    near the bottom of the page."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    render_text_image(scanned_text).save(buf, "PNG")
    c = canvas.Canvas(str(path), pagesize=letter)
    c.drawImage(ImageReader(io.BytesIO(buf.getvalue())), 0, 0, *letter)
    c.acroForm.textfield(name="signed_by", value=value, x=72, y=100, width=400, height=30, fontSize=20,
                         borderWidth=0, fillColor=None)
    c.showPage()
    c.save()
    return path


def make_unrendered_form(path: Path, value: str) -> Path:
    """A filled text field with no appearance stream and `NeedAppearances` set: the viewer (PDFium's form
    environment) must draw the value itself. Written by hand, as form-filling scripts write them."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /NeedAppearances true"
        b" /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] /Resources << >> >>",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (" + value.encode("latin-1")
        + b") /DA (/Helv 20 Tf 0 g) /Rect [72 600 500 640] /F 4 /P 3 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def add_free_text(src: Path, dst: Path, text: str, rect: tuple[float, float, float, float]) -> Path:
    """`src` with a free-text annotation saying `text` at `rect` (left, bottom, right, top) on page 1."""
    pdf = pdfium.PdfDocument(src)
    page = pdf[0]
    annot = pdfium_c.FPDFPage_CreateAnnot(page.raw, pdfium_c.FPDF_ANNOT_FREETEXT)
    left, bottom, right, top = rect
    pdfium_c.FPDFAnnot_SetRect(annot, pdfium_c.FS_RECTF(left=left, top=top, right=right, bottom=bottom))
    encoded = (text + "\x00").encode("utf-16-le")
    buf = ctypes.create_string_buffer(encoded, len(encoded))
    pdfium_c.FPDFAnnot_SetStringValue(annot, b"Contents", ctypes.cast(buf, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFPage_CloseAnnot(annot)
    page.close()
    pdf.save(dst)
    pdf.close()
    return dst
