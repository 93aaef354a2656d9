"""A document as a searchable PDF: the original pages kept as they are, an invisible text layer over the pages
OCR read (`pagemill export DOC --format pdf`).

Libraries (licences checked): pikepdf (MPL-2.0) opens the original and grafts each text layer onto its page as
a Form XObject, the way OCRmyPDF does it, so nothing of the original is re-rendered or re-encoded: its content
streams, fonts, images, annotations, outline and metadata are written back as they were read (streams are not
even decoded: `StreamDecodeLevel.none`). Each layer is a content stream written here (scheduler/export/pdf_layer.py):
text in render mode 3 (invisible), one text matrix per word so each word sits on its box's baseline and spans
its box's width, in a glyphless Type0 font that carries any script (scheduler/export/pdf_font.py). Writing the
few operators directly replaced reportlab pages grafted through a second PDF: its Helvetica turned every
character outside cp1252 into `?`, and the detour cost a parse and a copy per page.

Where the words' positions come from, best first:
- a corrected page (`page_corrections`, reason `correction`): the corrected text, line by line, laid as bands
  over the OCR lines (one to one when the counts agree), else over the page's blocks, else across the page;
- the local engine's words (`pages.words`): each word on its own box;
- a provider's blocks with boxes (Mistral OCR 4): each block's lines laid as bands inside its box, in order;
- nothing: the page's text laid across the page, top to bottom (the result lists such pages).

Pages read from their own text layer (`source = text_layer`) and pages without a stored OCR result are left
untouched, byte for byte. An image document (PNG, JPEG, TIFF with all its frames, WebP, ...) becomes one page
per frame at the image's resolution; a JPEG's bytes are embedded as they are (DCTDecode, no recompression).
A JPEG drawn on a layered page is wrapped in a Flate layer when that saves 5 % or more (its bytes unchanged
inside: lossless, as OCRmyPDF's default optimisation does): a scan's mostly white JPEG shrinks by 10-20 %.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import undefer

from models.db import Database
from models.errors import ConfigError, ObjectMissing, StorageError
from models.tables import Document, Page, PageBlock, PageCorrection
from worker.objects.store import ObjectStore

from .pdf_font import add_font
from .pdf_layer import PageMismatch, check_frame, draw_layer, fit_runs, page_text, pixels_to_pdf

__all__ = ["TEXT_LAYER_SOURCE", "PdfExport", "export_pdf", "write_searchable_pdf"]

TEXT_LAYER_SOURCE = "text_layer"
_FONT_RESOURCE = "GlyphLess"  # the layer font's name in each layer's resources
@dataclass
class PdfExport:
    path: Path
    pages: int = 0  # pages in the written PDF
    layered: list[int] = field(default_factory=list)  # pages given a text layer (0-based)
    untouched: list[int] = field(default_factory=list)  # pages kept as they were (their own text layer, no OCR)
    without_positions: list[int] = field(default_factory=list)  # text laid across the page: no boxes known
    seconds: float = 0.0


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
    extra: dict[str, int] = {}  # characters beyond the BMP the layers use: the font's ToUnicode map needs them
    layers: list[tuple[int, bytes, tuple[float, float, float, float]]] = []  # page, its layer, its crop box
    for index in range(len(pdf.pages)):
        page = by_index.get(index)
        if page is None or page.source == TEXT_LAYER_SOURCE:
            result.untouched.append(index)
            continue
        text = page_text(page, blocks.get(index, []), index in corrected)
        if text is None or not text.runs:
            result.untouched.append(index)
            continue
        target_page = pdf.pages[index]
        box = [float(v) for v in target_page.cropbox]
        x0, y0 = min(box[0], box[2]), min(box[1], box[3])
        w_pt, h_pt = abs(box[2] - box[0]), abs(box[3] - box[1])
        rotate = int(target_page.obj.get("/Rotate", 0)) if is_pdf else 0
        try:
            check_frame(text, w_pt, h_pt, rotate)
            fit_runs(text)
        except PageMismatch as err:  # nothing written: the whole document waits until the page is read again
            raise PageMismatch(f"document {doc_id}, page {index + 1}: {err.message}") from None
        to_pdf = pixels_to_pdf(text.width_px, text.height_px, text.turned, w_pt, h_pt, rotate)
        layers.append((index, draw_layer(text, to_pdf, _FONT_RESOURCE, extra), (x0, y0, w_pt, h_pt)))
        result.layered.append(index)
        if not text.positioned:
            result.without_positions.append(index)
    if layers:
        font = add_font(pdf, extra)  # one font object shared by every page's layer
        wrapped: set[tuple[int, int]] = set()
        for index, content, rect in layers:
            _graft(pdf, index, content, rect, font)
            _deflate_jpegs(pdf, index, wrapped)
    _save_atomic(pdf, target)
    result.seconds = time.perf_counter() - started
    return result


def _graft(pdf: object, index: int, content: bytes, rect: tuple[float, float, float, float], font: object) -> None:
    """`content` (the layer, drawn from the crop box's corner) as a Form XObject drawn over page `index`, the
    original content streams kept as they are (pikepdf's add_overlay would coalesce them into one re-encoded
    stream); the original's drawing state is saved and restored around them so the layer starts from a clean one."""
    import pikepdf

    x0, y0, w_pt, h_pt = rect
    page = pdf.pages[index]  # type: ignore[attr-defined]
    formx = pikepdf.Stream(pdf, zlib.compress(content, 6))  # type: ignore[arg-type]
    formx.Filter = pikepdf.Name.FlateDecode
    formx.Type = pikepdf.Name.XObject
    formx.Subtype = pikepdf.Name.Form
    formx.BBox = [0, 0, w_pt, h_pt]
    formx.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary({f"/{_FONT_RESOURCE}": font}))
    name = page.add_resource(formx, pikepdf.Name.XObject, prefix="OCR")
    page.contents_add(b"q\n", prepend=True)
    page.contents_add(f"\nQ\nq 1 0 0 1 {x0:.4f} {y0:.4f} cm {name} Do Q\n".encode(), prepend=False)


# a scan's JPEG is mostly white: its bytes deflate by 10-20 %. Wrapped in a Flate layer the JPEG stays byte for
# byte what it was (readers inflate, then decode the same JPEG): lossless, unlike re-encoding it; OCRmyPDF's
# default optimisation does the same. Kept only when it saves this share of the stream.
_DEFLATE_MIN_SAVING = 0.05


def _deflate_jpegs(pdf: object, index: int, done: set[tuple[int, int]]) -> None:
    """Wrap the JPEG images page `index` draws (its own XObjects, not nested forms) in a Flate layer when that
    makes them smaller; `done` holds the images already looked at (an image shared by pages once)."""
    import pikepdf

    xobjects = pdf.pages[index].obj.get("/Resources", {}).get("/XObject", {})  # type: ignore[attr-defined]
    for _, image in xobjects.items():
        if image.get("/Subtype") != pikepdf.Name.Image or image.get("/Filter") != pikepdf.Name.DCTDecode:
            continue
        key = image.objgen
        if key in done:
            continue
        done.add(key)
        if image.get("/DecodeParms") is not None:
            continue
        raw = image.read_raw_bytes()
        packed = zlib.compress(raw, 6)
        if len(packed) <= len(raw) * (1 - _DEFLATE_MIN_SAVING):
            image.write(packed, filter=[pikepdf.Name.FlateDecode, pikepdf.Name.DCTDecode])


def _save_atomic(pdf: object, target: Path) -> None:
    """Write to a temporary file beside `target`, then rename it over: a reader sees the old file or the new one,
    never half of one; on any failure (a full disk, an unwritable folder) the temporary file is removed."""
    import pikepdf

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        # streams neither decoded nor recompressed: the original's bytes go out as they came in (with
        # compress_streams qpdf would re-encode an ASCII85+Flate stream as Flate). What pagemill adds is already
        # compressed (the layers and font, zlib'd image pixels) but for the few bytes of `q`/`Q` around each page.
        pdf.save(tmp, stream_decode_level=pikepdf.StreamDecodeLevel.none,  # type: ignore[attr-defined]
                 compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.preserve,
                 recompress_flate=False)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_pdf(db: Database, objects: ObjectStore, doc_id: int, out: Path, decrypt: bool = False,
               filename: str | None = None) -> PdfExport:
    """`export --format pdf`: OUT a file, or a folder to write `document-<id>.pdf` into."""
    target = out / (filename or f"document-{doc_id}.pdf") if out.is_dir() or str(out).endswith(os.sep) else out
    return write_searchable_pdf(db, objects, doc_id, target, decrypt)
