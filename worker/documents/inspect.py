"""Inspect a stored file: its type from magic bytes, its page count and its problems, without crashing.

Every problem becomes a typed `InputError` with a message that says what to do next.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from models.errors import (
    CorruptInput,
    EmptyInput,
    EncryptedInput,
    OversizedInput,
    UnsupportedFormat,
)

from .mime import sniff_mime

__all__ = [
    "DocumentInfo",
    "DocumentLimits",
    "inspect_document",
    "open_pdf",
    "open_pdf_document",
    "IMAGE_MIME_TYPES",
    "PDFIUM_LOCK",
]

log = logging.getLogger(__name__)

# PDFium's FPDF_ERR_* codes (fpdfview.h)
_PDFIUM_ERR_FORMAT = 3
_PDFIUM_ERR_PASSWORD = 4

IMAGE_MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
}

@dataclass(frozen=True)
class DocumentLimits:
    max_file_bytes: int = 2 * 1024**3
    max_pages: int = 20_000
    max_image_pixels: int = 200_000_000  # a 40000x40000 "image" is 1.6 G pixels


@dataclass(frozen=True)
class DocumentInfo:
    mime_type: str
    kind: str  # "pdf" | "image"
    page_count: int


def _describe_unknown(head: bytes) -> str:
    if head[:4] == b"PK\x03\x04":
        return "a ZIP archive (or an Office file)"
    if head[:4] == b"\x7fELF" or head[:2] == b"MZ":
        return "an executable"
    try:
        head[:512].decode("utf-8")
        return "plain text"
    except UnicodeDecodeError:
        return "an unknown binary format"


# PDFium is one library-wide state and not thread-safe (concurrent use segfaults; seen with the HTTP provider's
# threads pool), so every use of it in a process is serialised on this lock, held while a document is open.
# Re-entrant, so code holding a document may open another. Processes are unaffected.
PDFIUM_LOCK = threading.RLock()


@contextmanager
def open_pdf(path: Path | bytes, password: str | None = None) -> Iterator[pdfium.PdfDocument]:
    with PDFIUM_LOCK:
        with _open_pdf(path, password) as pdf:
            yield pdf


def open_pdf_document(path: Path | bytes, password: str | None = None) -> pdfium.PdfDocument:
    """Open a PDF (the caller holds PDFIUM_LOCK and closes it); encrypted and damaged files raise typed errors."""
    try:
        pdf = pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == _PDFIUM_ERR_PASSWORD:
            if password:
                raise EncryptedInput(
                    "the PDF is encrypted and the password given does not open it; check --password"
                ) from None
            raise EncryptedInput(
                "the PDF is encrypted: give its password with --password to process it"
            ) from None
        raise CorruptInput(f"the PDF is damaged and cannot be read ({exc}); re-export or re-scan it") from None
    # the form environment must exist before any page is loaded for pages to render with their filled-in
    # fields (and for worker/documents/pdf_forms.py to read check states); a document without a form skips it at once
    try:
        pdf.init_forms()
    except pdfium.PdfiumError as exc:  # a broken form costs its fields' drawing, not the document
        log.warning("the PDF's form could not be set up, fields are drawn as stored: %s", exc)
    return pdf


@contextmanager
def _open_pdf(path: Path | bytes, password: str | None = None) -> Iterator[pdfium.PdfDocument]:
    pdf = open_pdf_document(path, password)
    try:
        yield pdf
    finally:
        pdf.close()


def _inspect_pdf(path: Path, password: str | None, limits: DocumentLimits) -> DocumentInfo:
    with open_pdf(path, password) as pdf:
        n = len(pdf)
        if n == 0:
            raise CorruptInput("the PDF has no pages; re-export or re-scan it")
        if n > limits.max_pages:
            raise OversizedInput(
                f"the PDF has {n} pages, over the limit of {limits.max_pages}"
                " (raise PAGEMILL_MAX_PAGES or split the file)"
            )
        try:
            pdf[0].close()
        except pdfium.PdfiumError as exc:
            raise CorruptInput(f"the PDF's first page cannot be read ({exc})") from None
    return DocumentInfo("application/pdf", "pdf", n)


def _header_size(path: Path, mime: str) -> tuple[int, int] | None:
    """Width and height straight from the header bytes of formats that put them at a fixed place.

    Checked before Pillow sees the file, so the limit that applies is PAGEMILL_MAX_IMAGE_PIXELS, not
    Pillow's own global bomb threshold, and the message can name the size."""
    with path.open("rb") as fh:
        head = fh.read(32)
    if mime == "image/png" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if mime == "image/gif" and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if mime == "image/bmp" and len(head) >= 26:
        return abs(int.from_bytes(head[18:22], "little", signed=True)), abs(
            int.from_bytes(head[22:26], "little", signed=True)
        )
    return None


def _too_many_pixels(w: int, h: int, limits: DocumentLimits) -> OversizedInput:
    return OversizedInput(
        f"the image is {w}x{h} pixels, over the limit of {limits.max_image_pixels:,}"
        " pixels (PAGEMILL_MAX_IMAGE_PIXELS); downscale it first"
    )


def _inspect_image(path: Path, mime: str, limits: DocumentLimits) -> DocumentInfo:
    size = _header_size(path, mime)
    if size is not None and size[0] * size[1] > limits.max_image_pixels:
        raise _too_many_pixels(*size, limits)
    try:
        # Image.open reads only the header: nothing is allocated before the pixel check below
        with Image.open(path) as im:
            w, h = im.size
            if w * h > limits.max_image_pixels:
                raise _too_many_pixels(w, h, limits)
            frames = getattr(im, "n_frames", 1) if mime in ("image/tiff", "image/gif", "image/webp") else 1
            if mime == "image/gif":
                frames = 1  # an animated GIF is one picture, not pages
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, Image.DecompressionBombError):
            raise OversizedInput(f"the image is too large to decode safely ({exc})") from None
        raise CorruptInput(f"the image is damaged and cannot be read ({exc})") from None
    return DocumentInfo(mime, "image", int(frames))


def inspect_document(path: Path, password: str | None = None, limits: DocumentLimits | None = None) -> DocumentInfo:
    """Classify the file at `path`, or raise the InputError that explains why it cannot be processed."""
    limits = limits or DocumentLimits()
    size = path.stat().st_size
    if size == 0:
        raise EmptyInput("the file is empty (0 bytes); was it still being copied?")
    if size > limits.max_file_bytes:
        raise OversizedInput(
            f"the file is {size / 1e6:.0f} MB, over the limit of {limits.max_file_bytes / 1e6:.0f} MB"
            " (PAGEMILL_MAX_FILE_MB)"
        )
    with path.open("rb") as fh:
        head = fh.read(1024)
    mime = sniff_mime(head)
    if mime is None:
        raise UnsupportedFormat(
            f"not a PDF or an image: the content looks like {_describe_unknown(head)};"
            " pagemill reads PDF, PNG, JPEG, TIFF, WebP, BMP and GIF"
        )
    if mime == "application/pdf":
        return _inspect_pdf(path, password, limits)
    return _inspect_image(path, mime, limits)


def read_image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return None
