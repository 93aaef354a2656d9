"""One page of a stored document as an image an assistant can look at: rendered from the original (PDFium for
PDFs, PIL for images), scaled so its longer edge is at most MAX_EDGE_PX, and encoded as PNG, or as JPEG when
the PNG would be larger than MAX_IMAGE_BYTES (a photographed or scanned page compresses far better so).

    image = render_page_image(db, objects, document_id=3, page=0)   # PageImage(data, mime_type, width, height)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from models.db import Database
from models.errors import ConfigError, InputError, ObjectMissing
from models.tables import Document
from worker.objects.store import ObjectStore

__all__ = ["PageImage", "render_page_image", "MAX_EDGE_PX", "MAX_IMAGE_BYTES", "RENDER_DPI"]

# 1568 px is the longest edge vision models take without scaling down again (Claude's documented limit; GPT-4o
# tiles at 2048 and scales to 768 on the short side): larger spends tokens on pixels nobody sees
MAX_EDGE_PX = 1568
MAX_IMAGE_BYTES = 1_000_000  # base64 makes it ~1.33 MB in the answer
RENDER_DPI = 150  # an A4 page at 150 dpi is 1240 x 1754 px: readable text, scaled down once to MAX_EDGE_PX


@dataclass(frozen=True)
class PageImage:
    data: bytes
    mime_type: str  # image/png or image/jpeg
    width: int
    height: int


def _original(db: Database, objects: ObjectStore, document_id: int, page: int) -> tuple[Path, Document]:
    with db.read_session() as s:
        doc = s.scalar(select(Document).where(Document.id == int(document_id)))
        if doc is None:
            raise ConfigError(f"no document {document_id}; list_documents lists them")
        s.expunge(doc)
    if not 0 <= page < max(doc.page_count or 0, 1):
        raise ConfigError(f"document {document_id} has no page {page} (pages are 0-based; it has"
                          f" {doc.page_count or 0})")
    relpath = doc.work_path or doc.object_path  # the decrypted copy when the original needs a password
    try:
        path = objects.local_path(relpath)
    except (ObjectMissing, OSError):
        raise ObjectMissing(f"the original of document {document_id} is missing from the object store") from None
    if not Path(path).exists():
        raise ObjectMissing(f"the original of document {document_id} is missing from the object store")
    return Path(path), doc


def _encode(image: Image.Image) -> PageImage:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=False)
    if buf.tell() <= MAX_IMAGE_BYTES:
        return PageImage(buf.getvalue(), "image/png", image.width, image.height)
    for quality in (85, 70, 50):
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality)
        if buf.tell() <= MAX_IMAGE_BYTES:
            break
    return PageImage(buf.getvalue(), "image/jpeg", image.width, image.height)


def render_page_image(db: Database, objects: ObjectStore, document_id: int, page: int) -> PageImage:
    """Page `page` (0-based) of the document, at most MAX_EDGE_PX on its longer edge. Raises ConfigError for a
    page or document that does not exist, ObjectMissing when the original is gone, InputError when it cannot
    be rendered."""
    from worker.documents.render import render_pages
    from worker.providers.base import SourceDocument

    path, doc = _original(db, objects, document_id, page)
    mime = doc.mime_type or ""
    kind = "pdf" if mime == "application/pdf" else "image"
    source = SourceDocument(path=path, mime_type=mime, kind=kind, page_count=doc.page_count or 0)
    try:
        for rendered in render_pages(source, [page], dpi=RENDER_DPI):
            image = rendered.image
            # a stored scan comes at its own resolution; thumbnail keeps the aspect ratio
            image.thumbnail((MAX_EDGE_PX, MAX_EDGE_PX))
            return _encode(image)
    except (OSError, ValueError, RuntimeError) as exc:  # PdfiumError is a RuntimeError
        raise InputError(f"page {page} of document {document_id} cannot be rendered: {type(exc).__name__}") from None
    raise ConfigError(f"document {document_id} has no page {page}")
