"""A document as a searchable PDF: the original pages kept as they are, an invisible text layer over the pages
OCR read (`pagemill export DOC --format pdf`).

Libraries (licences checked): pikepdf (MPL-2.0) opens the original and grafts each text layer onto its page as
a Form XObject, the way OCRmyPDF does it, so nothing of the original is re-rendered or re-encoded: its content
streams, fonts, images, annotations, outline and metadata are written back as they were read (streams are not
even decoded: `StreamDecodeLevel.none`). reportlab (BSD-3-Clause, already a dependency) draws the layer pages:
text in render mode 3 (invisible), one text matrix per word so each word sits on its box's baseline and spans
its box's width (horizontal scaling), in Helvetica (a standard font: nothing embedded).

Where the words' positions come from, best first:
- a corrected page (`page_corrections`, reason `correction`): the corrected text, line by line, laid as bands
  over the OCR lines (one to one when the counts agree), else over the page's blocks, else across the page;
- the local engine's words (`pages.words`): each word on its own box;
- a provider's blocks with boxes (Mistral OCR 4): each block's lines laid as bands inside its box, in order;
- nothing: the page's text laid across the page, top to bottom (the result lists such pages).

Pages read from their own text layer (`source = text_layer`) and pages without a stored OCR result are left
untouched, byte for byte. An image document (PNG, JPEG, TIFF with all its frames, WebP, ...) becomes one page
per frame at the image's resolution; a JPEG's bytes are embedded as they are (DCTDecode, no recompression).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import undefer

from models.db import Database
from models.errors import ConfigError, ObjectMissing
from models.tables import Document, Page, PageBlock, PageCorrection
from worker.layout.word_boxes import StoredLine, read_words
from worker.objects.store import ObjectStore

__all__ = ["TEXT_LAYER_SOURCE", "PdfExport", "export_pdf", "write_searchable_pdf"]

TEXT_LAYER_SOURCE = "text_layer"
_FONT = "Helvetica"
# Helvetica's metrics (per 1000 units of the font size): the height of capitals and ascenders, the descent
_ASCENT = 0.718
_DESCENT = 0.207
_Matrix = tuple[float, float, float, float, float, float]  # PDF order: x' = a x + c y + e, y' = b x + d y + f


@dataclass
class PdfExport:
    path: Path
    pages: int = 0  # pages in the written PDF
    layered: list[int] = field(default_factory=list)  # pages given a text layer (0-based)
    untouched: list[int] = field(default_factory=list)  # pages kept as they were (their own text layer, no OCR)
    without_positions: list[int] = field(default_factory=list)  # text laid across the page: no boxes known
    seconds: float = 0.0


# --- geometry -------------------------------------------------------------------------------------------------

def _then(m1: _Matrix, m2: _Matrix) -> _Matrix:
    """m1 applied first, then m2."""
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2, c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def _pixels_to_pdf(width_px: float, height_px: float, turned: int, w_pt: float, h_pt: float,
                   rotate: int) -> _Matrix:
    """From the pixels the boxes are in (the image the engine read, turned upright by `turned` degrees) to the
    page's unrotated user space (origin at its crop box's corner), for a page shown turned by /Rotate."""
    # the upright image back to the image as rendered (PIL's ROTATE_90 turned it counter-clockwise)
    turned %= 360
    if turned == 90:  # upright is W' x H' = H x W: x = W - y', y = x'
        back: _Matrix = (0, 1, -1, 0, height_px, 0)
        rw, rh = height_px, width_px
    elif turned == 270:  # x = y', y = H - x'
        back = (0, -1, 1, 0, 0, width_px)
        rw, rh = height_px, width_px
    elif turned == 180:
        back = (-1, 0, 0, -1, width_px, height_px)
        rw, rh = width_px, height_px
    else:
        back = (1, 0, 0, 1, 0, 0)
        rw, rh = width_px, height_px
    to_unit: _Matrix = (1 / rw, 0, 0, 1 / rh, 0, 0)  # u, v in 0..1, v down, of the page as displayed
    rotate %= 360
    if rotate == 90:  # X = v w, Y = u h
        display: _Matrix = (0, h_pt, w_pt, 0, 0, 0)
    elif rotate == 180:  # X = (1 - u) w, Y = v h
        display = (-w_pt, 0, 0, h_pt, w_pt, 0)
    elif rotate == 270:  # X = (1 - v) w, Y = (1 - u) h
        display = (0, -h_pt, -w_pt, 0, w_pt, h_pt)
    else:  # X = u w, Y = (1 - v) h
        display = (w_pt, 0, 0, -h_pt, 0, h_pt)
    return _then(_then(back, to_unit), display)


# --- what to lay on a page ------------------------------------------------------------------------------------

@dataclass
class _Run:
    """Text on one baseline: from (x0, baseline) to x1 in pixels, glyphs `size` pixels high (font size)."""

    text: str
    x0: float
    x1: float
    baseline: float
    size: float
    stretch: bool = True  # scaled to span x0..x1; otherwise only shrunk when too wide


_IMAGE_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)")
_TAGS = re.compile(r"</?[a-zA-Z][^>]*>")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LEADING = re.compile(r"^\s*(#{1,6}\s+|>\s*)")


def plain_lines(markdown: str) -> list[str]:
    """The lines of a page's markdown as a reader sees them: no link placeholders, tags, heading marks, emphasis
    or table rules; table cells separated by spaces."""
    out: list[str] = []
    for line in markdown.splitlines():
        if _TABLE_RULE.match(line) or line.strip() in ("---", "***"):
            continue
        text = _LEADING.sub("", _TAGS.sub("", _IMAGE_LINK.sub("", line)))
        text = text.replace("**", "").replace("__", "").replace("|", " ").replace("\\", "")
        text = " ".join(text.split())
        if text:
            out.append(text)
    return out


def _word_runs(lines: Iterable[StoredLine]) -> list[_Run]:
    runs: list[_Run] = []
    for ln in lines:
        if not ln.words:
            continue
        top = min(w.y0 for w in ln.words)
        # the line's tallest letters reach the cap height: that gives one font size for the whole line
        size = max(2.0, (ln.baseline - top) / _ASCENT)
        for n, w in enumerate(ln.words):
            text = w.text + (" " if n < len(ln.words) - 1 else "")
            runs.append(_Run(text, w.x0, w.x1, ln.baseline, size))
    return runs


def _bands(lines: Sequence[str], box: tuple[float, float, float, float]) -> list[_Run]:
    """`lines` laid top to bottom inside `box`, one thin band per line (a tall box made one text object would be
    scaled so much that viewers cannot select it)."""
    x0, y0, x1, y1 = box
    if not lines or x1 <= x0 or y1 <= y0:
        return []
    band = (y1 - y0) / len(lines)
    size = band / (_ASCENT + _DESCENT) * 0.9
    return [_Run(text, x0, x1, y0 + band * (i + 1) - _DESCENT * size - band * 0.05, size, stretch=False)
            for i, text in enumerate(lines)]


def _spread(lines: Sequence[str], blocks: Sequence[tuple[tuple[float, float, float, float], int]]) -> list[_Run]:
    """`lines` shared out over `blocks` ((box, weight)) in order, each block taking its share of the lines."""
    total = sum(weight for _, weight in blocks) or 1
    runs: list[_Run] = []
    start = 0
    for n, (box, weight) in enumerate(blocks):
        end = len(lines) if n == len(blocks) - 1 else min(len(lines), start + round(len(lines) * weight / total))
        runs += _bands(lines[start:end], box)
        start = end
    return runs


@dataclass
class _PageText:
    runs: list[_Run]
    width_px: float
    height_px: float
    turned: int = 0
    positioned: bool = True


def _page_text(page: Page, blocks: list[PageBlock], corrected: bool) -> _PageText | None:
    width = float(page.width or 0)
    height = float(page.height or 0)
    stored = list(read_words(page.words))
    turned = int((page.words or {}).get("turned") or 0) if stored else 0
    if width <= 0 or height <= 0:  # no pixel frame known: a unit square laid over the whole page
        width = height = 1000.0
        stored, blocks = [], []
    whole = (0.05 * width, 0.05 * height, 0.95 * width, 0.95 * height)
    if not corrected and stored:
        return _PageText(_word_runs(stored), width, height, turned)
    boxed = [b for b in blocks if None not in (b.top_left_x, b.top_left_y, b.bottom_right_x, b.bottom_right_y)
             and b.type != "image"]
    if corrected:
        lines = plain_lines(page.markdown or "")
        ocr_lines = [ln for ln in stored if ln.words]
        if ocr_lines and len(ocr_lines) == len(lines):
            runs = []
            for text, ln in zip(lines, ocr_lines):
                top = min(w.y0 for w in ln.words)
                runs.append(_Run(text, min(w.x0 for w in ln.words), max(w.x1 for w in ln.words), ln.baseline,
                                 max(2.0, (ln.baseline - top) / _ASCENT)))
            return _PageText(runs, width, height, turned)
        if ocr_lines:
            boxes = [((min(w.x0 for w in ln.words), min(w.y0 for w in ln.words), max(w.x1 for w in ln.words),
                       max(w.y1 for w in ln.words)), 1) for ln in ocr_lines]
            return _PageText(_spread(lines, boxes), width, height, turned)
        if boxed:
            return _PageText(_spread(lines, [(_block_box(b), max(1, len(plain_lines(b.content)))) for b in boxed]),
                             width, height)
        return _PageText(_bands(lines, whole), width, height, positioned=False)
    if boxed:
        runs = []
        for b in boxed:
            runs += _bands(plain_lines(b.content), _block_box(b))
        if runs:
            return _PageText(runs, width, height)
    lines = plain_lines(page.markdown or "")
    if not lines:
        return None
    return _PageText(_bands(lines, whole), width, height, positioned=False)


def _block_box(b: PageBlock) -> tuple[float, float, float, float]:
    return (float(b.top_left_x or 0), float(b.top_left_y or 0), float(b.bottom_right_x or 0),
            float(b.bottom_right_y or 0))


# --- drawing --------------------------------------------------------------------------------------------------

def _encodable(text: str) -> str:
    # Helvetica through reportlab's standard encoding takes WinAnsi (cp1252) text; anything else becomes `?`
    return text.encode("cp1252", "replace").decode("cp1252")


def _draw_layer(canvas: object, text: _PageText, to_pdf: _Matrix) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    c = canvas
    t = c.beginText()  # type: ignore[attr-defined]
    t.setTextRenderMode(3)  # invisible: selectable and searchable, never drawn
    t.setFont(_FONT, 1)
    for run in text.runs:
        s = _encodable(run.text)
        core = s.rstrip(" ")
        natural = stringWidth(core, _FONT, 1) * run.size
        if natural <= 0 or run.size <= 0:
            continue
        span = run.x1 - run.x0
        scale = span / natural if run.stretch or natural > span else 1.0
        # text space -> pixels (y down, glyphs upright) -> PDF user space
        tm = _then((run.size * scale, 0, 0, -run.size, run.x0, run.baseline), to_pdf)
        t.setTextTransform(*tm)
        t.textOut(s)
    c.drawText(t)  # type: ignore[attr-defined]


# --- the document ---------------------------------------------------------------------------------------------

def _image_pdf(original: Path) -> tuple[object, list[tuple[float, float]]]:
    """A pikepdf Pdf with one page per image frame, each at the image's resolution; JPEG bytes kept as they are."""
    import pikepdf
    from PIL import Image, ImageSequence

    from worker.documents.render import image_dpi

    pdf = pikepdf.new()
    sizes: list[tuple[float, float]] = []
    with Image.open(original) as im:
        jpeg = im.format == "JPEG"
        for frame in ImageSequence.Iterator(im):
            dpi = image_dpi(frame)
            w, h = frame.size
            if jpeg:
                mode = frame.mode
                data = original.read_bytes()
                colour = {"L": pikepdf.Name.DeviceGray, "CMYK": pikepdf.Name.DeviceCMYK}.get(mode,
                                                                                         pikepdf.Name.DeviceRGB)
                stream = pikepdf.Stream(pdf, data)
                stream.Filter = pikepdf.Name.DCTDecode
                if mode == "CMYK":  # Adobe's inverted CMYK JPEGs, as PIL reads them
                    stream.Decode = pikepdf.Array([1, 0, 1, 0, 1, 0, 1, 0])
                bpc = 8
            else:
                if frame.mode == "1":
                    pixels, colour, bpc = frame.tobytes(), pikepdf.Name.DeviceGray, 1
                elif frame.mode in ("L", "RGB"):
                    pixels, colour, bpc = frame.tobytes(), (pikepdf.Name.DeviceGray if frame.mode == "L"
                                                            else pikepdf.Name.DeviceRGB), 8
                else:
                    conv = frame.convert("RGBA" if "A" in frame.getbands() or "transparency" in frame.info
                                         else "RGB")
                    if conv.mode == "RGBA":  # flattened on white: a page has no transparency to show through
                        flat = Image.new("RGB", conv.size, "white")
                        flat.paste(conv, mask=conv.getchannel("A"))
                        conv = flat
                    pixels, colour, bpc = conv.tobytes(), pikepdf.Name.DeviceRGB, 8
                stream = pikepdf.Stream(pdf, zlib.compress(pixels, 6))
                stream.Filter = pikepdf.Name.FlateDecode
                if frame.mode == "1":
                    stream.Decode = pikepdf.Array([0, 1])
            stream.Type = pikepdf.Name.XObject
            stream.Subtype = pikepdf.Name.Image
            stream.Width, stream.Height = w, h
            stream.ColorSpace = colour
            stream.BitsPerComponent = bpc
            w_pt, h_pt = w * 72.0 / dpi, h * 72.0 / dpi
            content = pikepdf.Stream(pdf, f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q".encode())
            page = pikepdf.Dictionary(
                Type=pikepdf.Name.Page, MediaBox=[0, 0, w_pt, h_pt], Contents=content,
                Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream)))
            pdf.pages.append(pikepdf.Page(page))
            sizes.append((w_pt, h_pt))
            if jpeg:
                break  # a JPEG holds one picture
    return pdf, sizes


def _load(db: Database, doc_id: int) -> tuple[Document, list[Page], dict[int, list[PageBlock]], set[int]]:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise ConfigError(f"no document {doc_id}; `pagemill status` lists them")
        pages = list(s.scalars(select(Page).options(undefer(Page.words)).where(Page.document_id == doc_id)
                               .order_by(Page.page_index)))
        blocks: dict[int, list[PageBlock]] = {}
        for b in s.scalars(select(PageBlock).where(PageBlock.document_id == doc_id)
                           .order_by(PageBlock.page_index, PageBlock.seq)):
            blocks.setdefault(b.page_index, []).append(b)
        corrected = set(s.scalars(select(PageCorrection.page_index).where(
            PageCorrection.document_id == doc_id, PageCorrection.reason == "correction")))
        s.expunge_all()
    if not pages:
        raise ConfigError(f"document {doc_id} has no stored pages yet (status {doc.status})")
    return doc, pages, blocks, corrected


def write_searchable_pdf(db: Database, objects: ObjectStore, doc_id: int, target: Path,
                         decrypt: bool = False) -> PdfExport:
    """Write document `doc_id` as a searchable PDF at `target` (atomically: a temporary file renamed)."""
    import pikepdf
    from reportlab.pdfgen.canvas import Canvas

    started = time.perf_counter()
    doc, pages, blocks, corrected = _load(db, doc_id)
    relpath = doc.object_path
    if doc.work_path:
        if not decrypt:
            raise ConfigError(f"document {doc_id}'s original is encrypted; pagemill keeps no password to encrypt"
                              " the searchable copy again. Give --decrypt to write it unencrypted")
        relpath = doc.work_path
    try:
        original = objects.local_path(relpath)
    except (ObjectMissing, OSError) as exc:
        raise ObjectMissing(f"the original of document {doc_id} is missing from the object store: {exc}") from None
    if not Path(original).exists():
        raise ObjectMissing(f"the original of document {doc_id} is missing from the object store ({relpath})")
    is_pdf = (doc.mime_type or "") == "application/pdf"
    try:
        if is_pdf:
            pdf = pikepdf.open(original)
        else:
            pdf, _ = _image_pdf(Path(original))
    except pikepdf.PasswordError:
        raise ConfigError(f"document {doc_id}'s original is encrypted and no decrypted copy was kept; submit it"
                          " again with --password") from None
    except pikepdf.PdfError as exc:
        raise ConfigError(f"document {doc_id}'s original cannot be read as a PDF: {exc}") from None
    result = PdfExport(target, pages=len(pdf.pages))
    by_index = {p.page_index: p for p in pages}
    layer_buf = io.BytesIO()
    canvas = Canvas(layer_buf, pageCompression=1, invariant=1)
    placed: list[tuple[int, tuple[float, float, float, float]]] = []  # target page, its crop box
    for index in range(len(pdf.pages)):
        page = by_index.get(index)
        if page is None or page.source == TEXT_LAYER_SOURCE:
            result.untouched.append(index)
            continue
        text = _page_text(page, blocks.get(index, []), index in corrected)
        if text is None or not text.runs:
            result.untouched.append(index)
            continue
        target_page = pdf.pages[index]
        box = [float(v) for v in target_page.cropbox]
        x0, y0 = min(box[0], box[2]), min(box[1], box[3])
        w_pt, h_pt = abs(box[2] - box[0]), abs(box[3] - box[1])
        rotate = int(target_page.obj.get("/Rotate", 0)) if is_pdf else 0
        canvas.setPageSize((w_pt, h_pt))
        _draw_layer(canvas, text, _pixels_to_pdf(text.width_px, text.height_px, text.turned, w_pt, h_pt, rotate))
        canvas.showPage()
        placed.append((index, (x0, y0, x0 + w_pt, y0 + h_pt)))
        result.layered.append(index)
        if not text.positioned:
            result.without_positions.append(index)
    if placed:
        canvas.save()
        layer = pikepdf.open(io.BytesIO(layer_buf.getvalue()))
        for n, (index, rect) in enumerate(placed):
            _graft(pdf, index, layer, n, rect)
    _save_atomic(pdf, target)
    result.seconds = time.perf_counter() - started
    return result


def _graft(pdf: object, index: int, layer: object, n: int, rect: tuple[float, float, float, float]) -> None:
    """Layer page `n` drawn over page `index` inside `rect`, the original content streams kept as they are
    (pikepdf's add_overlay would coalesce them into one re-encoded stream)."""
    import pikepdf

    page = pdf.pages[index]  # type: ignore[attr-defined]
    formx = pdf.copy_foreign(layer.pages[n].as_form_xobject())  # type: ignore[attr-defined]
    name = page.add_resource(formx, pikepdf.Name.XObject, prefix="OCR")
    placement = page.calc_form_xobject_placement(formx, name, pikepdf.Rectangle(*rect), allow_shrink=True,
                                                 allow_expand=True)
    page.contents_add(b"q\n", prepend=True)
    page.contents_add(b"\nQ\n" + bytes(placement), prepend=False)


def _save_atomic(pdf: object, target: Path) -> None:
    import pikepdf

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        # streams neither decoded nor recompressed: the original's bytes go out as they came in (with
        # compress_streams qpdf would re-encode an ASCII85+Flate stream as Flate). What pagemill adds is already
        # compressed (reportlab's layer, zlib'd image pixels) but for the few bytes of `q`/`Q` around each page.
        pdf.save(tmp, stream_decode_level=pikepdf.StreamDecodeLevel.none,  # type: ignore[attr-defined]
                 compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.preserve,
                 recompress_flate=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_pdf(db: Database, objects: ObjectStore, doc_id: int, out: Path, decrypt: bool = False,
               filename: str | None = None) -> PdfExport:
    """`export --format pdf`: OUT a file, or a folder to write `document-<id>.pdf` into."""
    target = out / (filename or f"document-{doc_id}.pdf") if out.is_dir() or str(out).endswith(os.sep) else out
    return write_searchable_pdf(db, objects, doc_id, target, decrypt)
