"""Filled form fields and free-text annotations of a PDF page: their text and where it sits.

PDFium's text page holds only the page's content stream. A filled AcroForm value and the text of a free-text
annotation live in annotations drawn on top of it (each with its own appearance stream), so reading the text
layer alone loses them, and rendering without the form environment can lose a field whose appearance the
viewer is meant to build (`NeedAppearances`). `page_form_text` reads them through PDFium's annotation API;
`form_lines` turns them into layout lines in page pixels so the text-layer path places them in the markdown
where they sit on the page, as OCR of the rendered page would.

What is read (docs/schema.md, "Form fields and annotations"):
- text fields, combo and list boxes: the value shown (empty values, password fields and hidden fields skipped);
- check boxes and radio buttons: "☒" when on, "☐" when off (a form's unticked boxes are part of its answer);
- free-text annotations (text typed onto the page): their `Contents`.
Push buttons and signature fields carry no filled-in text and are skipped; so are sticky notes (Text
annotations), popups, links and markup: they are comments about the page, not text shown on it, and placed in
the body they would split the sentences they annotate.

A value already present in the page's own text inside the field's box (a form printed or flattened into the
content but with its widgets kept) is not added again.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..layout.model import Box, Line, Word
from ..layout.pdf_chars import PixelMap

__all__ = ["FormText", "page_form_text", "form_lines", "with_form_lines", "CHECKED", "UNCHECKED"]

CHECKED = "☒"
UNCHECKED = "☐"

_HIDDEN = pdfium_c.FPDF_ANNOT_FLAG_HIDDEN | pdfium_c.FPDF_ANNOT_FLAG_NOVIEW | pdfium_c.FPDF_ANNOT_FLAG_INVISIBLE
_NO_TEXT_FIELDS = (pdfium_c.FPDF_FORMFIELD_PUSHBUTTON, pdfium_c.FPDF_FORMFIELD_SIGNATURE,
                   pdfium_c.FPDF_FORMFIELD_UNKNOWN)
_BOXES = (pdfium_c.FPDF_FORMFIELD_CHECKBOX, pdfium_c.FPDF_FORMFIELD_RADIOBUTTON)
_SPACE = re.compile(r"\s+")
# a field with auto-sized text (font size 0) is drawn at about this share of its height, capped at a body size
_AUTO_SIZE_SHARE = 0.7
_AUTO_SIZE_MAX_PT = 12.0
_JOIN_GAP = 1.0  # text sizes between a label and its value once joined
_STRIP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class FormText:
    """One piece of filled-in text: `kind` is "field" (a form widget) or "freetext" (an annotation). `rect` is
    (left, bottom, right, top) in PDF user space; `size` the font size in points (0 when unknown)."""

    name: str  # the field's full name; empty for a free-text annotation
    value: str
    kind: str
    rect: tuple[float, float, float, float]
    size: float = 0.0


def _utf16(read: Callable[[ctypes.Array[ctypes.c_char] | None, int], int]) -> str:
    """A PDFium UTF-16LE string out-parameter: asked once for its byte length, then read."""
    n = read(None, 0)
    if n <= 2:  # just the terminator
        return ""
    buf = ctypes.create_string_buffer(n)
    read(buf, n)
    return buf.raw[:n].decode("utf-16-le", "replace").rstrip("\x00")


def _wchar(buf: ctypes.Array[ctypes.c_char] | None) -> object:
    return ctypes.cast(buf, ctypes.POINTER(pdfium_c.FPDF_WCHAR)) if buf is not None else None


def _rect(annot: object) -> tuple[float, float, float, float] | None:
    r = pdfium_c.FS_RECTF()
    if not pdfium_c.FPDFAnnot_GetRect(annot, r):
        return None
    # some writers store the corners the other way round (pdffill-demo.pdf's links have top < bottom)
    return min(r.left, r.right), min(r.bottom, r.top), max(r.left, r.right), max(r.bottom, r.top)


def _font_size(form: object, annot: object) -> float:
    size = ctypes.c_float()
    return float(size.value) if pdfium_c.FPDFAnnot_GetFontSize(form, annot, size) else 0.0


def _field(form: object, annot: object) -> tuple[str, str] | None:
    """(name, shown value) of a widget, or None when it shows no filled-in text."""
    ftype = pdfium_c.FPDFAnnot_GetFormFieldType(form, annot)
    if ftype in _NO_TEXT_FIELDS or ftype < 0:
        return None
    name = _utf16(lambda b, n: pdfium_c.FPDFAnnot_GetFormFieldName(form, annot, _wchar(b), n))
    if ftype in _BOXES:
        return name, CHECKED if pdfium_c.FPDFAnnot_IsChecked(form, annot) else UNCHECKED
    if ftype == pdfium_c.FPDF_FORMFIELD_TEXTFIELD and (
            pdfium_c.FPDFAnnot_GetFormFieldFlags(form, annot) & pdfium_c.FPDF_FORMFLAG_TEXT_PASSWORD):
        return None  # a viewer shows dots, and the secret has no place in stored text
    value = _utf16(lambda b, n: pdfium_c.FPDFAnnot_GetFormFieldValue(form, annot, _wchar(b), n))
    if ftype == pdfium_c.FPDF_FORMFIELD_LISTBOX:
        # a list box's value is the export value of one choice; what is shown is the selected options' labels
        labels = []
        for i in range(max(0, pdfium_c.FPDFAnnot_GetOptionCount(form, annot))):
            if pdfium_c.FPDFAnnot_IsOptionSelected(form, annot, i):
                labels.append(_utf16(lambda b, n, i=i: pdfium_c.FPDFAnnot_GetOptionLabel(form, annot, i, _wchar(b), n)))
        value = ", ".join(lbl for lbl in labels if lbl) or value
    return name, value


def _in_layer(textpage: pdfium.PdfTextPage | None, value: str, rect: tuple[float, float, float, float]) -> bool:
    if textpage is None:
        return False
    shown = _SPACE.sub(" ", textpage.get_text_bounded(*rect)).strip()
    return bool(shown) and _SPACE.sub(" ", value).strip() in shown


def page_form_text(pdf: pdfium.PdfDocument, page: pdfium.PdfPage,
                   textpage: pdfium.PdfTextPage | None = None) -> list[FormText]:
    """The page's filled form values and free-text annotations, in annotation order. With `textpage`, text
    already in the page's own layer inside the same box is left out (so it is not doubled).

    Field values are read through the document's form environment (`PdfDocument.init_forms()`, which
    `worker.documents.inspect.open_pdf` sets up); for a document opened without it, it is set up here."""
    count = pdfium_c.FPDFPage_GetAnnotCount(page.raw)
    if count <= 0:
        return []
    pdf.init_forms()  # nothing when already done or when the document has no form
    form = pdf.formenv.raw if pdf.formenv is not None else None
    # a page loaded before the environment existed is not known to it: check states and font sizes read
    # wrong then, so the page is announced to it for this call (and withdrawn after, as the page's owner
    # closes it without)
    late = form is not None and page.formenv is None
    if late:
        pdfium_c.FORM_OnAfterLoadPage(page.raw, form)
    try:
        return _read(page, form, textpage, count)
    finally:
        if late:
            pdfium_c.FORM_OnBeforeClosePage(page.raw, form)


def _read(page: pdfium.PdfPage, form: object, textpage: pdfium.PdfTextPage | None, count: int) -> list[FormText]:
    found: list[FormText] = []
    for i in range(count):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, i)
        if not annot:
            continue
        try:
            subtype = pdfium_c.FPDFAnnot_GetSubtype(annot)
            if pdfium_c.FPDFAnnot_GetFlags(annot) & _HIDDEN:
                continue
            if subtype == pdfium_c.FPDF_ANNOT_WIDGET and form is not None:
                field = _field(form, annot)
                if field is None:
                    continue
                name, value = field
                kind, size = "field", _font_size(form, annot)
            elif subtype == pdfium_c.FPDF_ANNOT_FREETEXT:
                name, kind, size = "", "freetext", 0.0
                value = _utf16(
                    lambda b, n, annot=annot: pdfium_c.FPDFAnnot_GetStringValue(annot, b"Contents", _wchar(b), n))
            else:
                continue
            value = _STRIP.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
            rect = _rect(annot)
            if not value or rect is None or _in_layer(textpage, value, rect):
                continue
            found.append(FormText(name, value, kind, rect, size))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return found


def _line(text: str, box: Box, size: float) -> Line:
    """One line of field text: words get shares of the box by their length (the field's own layout of the
    letters is not known, and the layout stage needs only their order and rough place)."""
    tokens = text.split()
    total = sum(len(t) for t in tokens) + max(0, len(tokens) - 1)
    unit = box.width / max(total, 1)
    words: list[Word] = []
    x = box.x0
    for t in tokens:
        words.append(Word(t, Box(x, box.y0, x + unit * len(t), box.y1)))
        x += unit * (len(t) + 1)
    return Line(words, size, box.y1 - 0.2 * size)


def form_lines(items: list[FormText], page: pdfium.PdfPage, size_px: tuple[int, int]) -> list[Line]:
    """Layout lines (page pixels, y down) for `items`: each value's lines stacked from the top of its box,
    at the field's font size, so the layout stage sets them beside their labels."""
    px = PixelMap(page, size_px)
    lines: list[Line] = []
    for item in items:
        left, bottom, right, top = item.rect
        rows = [r for r in item.value.split("\n") if r.strip()]
        if not rows:
            continue
        height_pt = top - bottom
        size_pt = item.size or min(_AUTO_SIZE_MAX_PT, _AUTO_SIZE_SHARE * height_pt / len(rows))
        size_pt = max(size_pt, 1.0)
        row_pt = height_pt / len(rows) if len(rows) == 1 else min(height_pt / len(rows), 1.2 * size_pt)
        for k, row in enumerate(rows):
            # a single-line field centres its text vertically; a multi-line one starts at the top
            if len(rows) == 1:
                mid = (top + bottom) / 2
                r_top, r_bottom = mid + 0.6 * size_pt, mid - 0.6 * size_pt
            else:
                r_top = top - k * row_pt
                r_bottom = r_top - row_pt
            box = px.box(left, r_bottom, right, r_top)
            # box widths follow the text's length, not the field's (a short value in a wide box)
            width = min(box.width, 0.5 * size_pt * px.scale * len(row))
            lines.append(_line(row, Box(box.x0, box.y0, box.x0 + max(width, 1.0), box.y1), size_pt * px.scale))
    return lines


def _row_of(line: Line, lines: list[Line]) -> Line | None:
    """The text line a field sits on: one whose height holds the field text's middle, ending left of it (its
    label); the nearest such one when there are several."""
    box = line.box
    best: tuple[float, Line] | None = None
    for other in lines:
        ob = other.box
        if not ob.y0 <= box.cy <= ob.y1 or ob.x0 >= box.x0:
            continue
        if any(w.box.x0 < box.x1 and box.x0 < w.box.x1 for w in other.words):
            continue  # a word of the line is under the field: a value written over text is its own line
        gap = box.x0 - ob.x1 if ob.x1 <= box.x0 else 0.0
        if best is None or gap < best[0]:
            best = (gap, other)
    return best[1] if best is not None else None


def with_form_lines(lines: list[Line], items: list[FormText], page: pdfium.PdfPage,
                    size_px: tuple[int, int]) -> list[Line]:
    """`lines` (a page's text layer, page pixels) with the text of `items` added where it sits: a one-line
    value beside its label joins the label's line ("Name: Ada Lovelace", "Member ☒"); any other value is a
    line of its own, which the layout stage orders with the rest."""
    out = list(lines)
    for extra in form_lines(items, page, size_px):
        row = _row_of(extra, lines)
        if row is None:
            out.append(extra)
            continue
        # the layout stage reads a gap over 2.5 text sizes as a column gutter and would set the value apart
        # from its label, so the value's boxes move up to a wide space after the word before it
        before = [w for w in row.words if w.box.x1 <= extra.words[0].box.x0]
        if before:
            shift = extra.words[0].box.x0 - (max(w.box.x1 for w in before) + _JOIN_GAP * row.size)
            if shift > 0:
                extra.words[:] = [Word(w.text, Box(w.box.x0 - shift, w.box.y0, w.box.x1 - shift, w.box.y1))
                                  for w in extra.words]
        row.words[:] = sorted([*row.words, *extra.words], key=lambda w: w.box.x0)
    return out
