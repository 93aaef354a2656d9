"""Build `/v1/ocr` request bodies that carry only the pages of one range.

PDF pages are copied into a small new PDF (pypdfium2 `import_pages`) sent as a `data:application/pdf;base64,`
`document_url`; a one-picture image is sent as is, as an `image_url` `data:image/...` URI; chosen frames of a
multi-page TIFF become a small PDF. A part never exceeds the provider's 50 MB / 1000 pages per request: it is
split in halves until it fits. Each part remembers which original page sits at each of its positions, so the
response's indices map back to the original document.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageSequence

from models.errors import CorruptInput, OversizedInput

from ..documents.inspect import open_pdf
from ..documents.pdf_cache import OpenPdfCache
from .base import AnnotationRequest, SourceDocument

__all__ = ["RequestOptions", "RequestPart", "plan_parts", "request_body", "IMAGE_URL_TYPES"]

# what `image_url` accepts (basic_ocr.md FAQ) among the formats pagemill reads
IMAGE_URL_TYPES = {"image/png", "image/jpeg", "image/tiff", "image/webp", "image/bmp", "image/gif"}



@dataclass(frozen=True)
class RequestOptions:
    """Documented request fields only (the server rejects unknown ones: additionalProperties false)."""

    model: str
    include_image_base64: bool = True
    table_format: str | None = None
    extract_header: bool = False
    extract_footer: bool = False
    include_blocks: bool | None = None  # None: not sent (older servers and models)
    confidence_scores: str | None = None  # `confidence_scores_granularity`: page | word | block
    image_limit: int | None = None
    image_min_size: int | None = None


@dataclass(frozen=True)
class RequestPart:
    pages: list[int]  # original page index at each position of the sent document
    document: dict[str, str]
    size_bytes: int  # of the sent file, before base64


def _response_format(name: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    # Mistral's ResponseFormat: {type: json_schema, json_schema: {name, schema, strict}}
    return {"type": "json_schema", "json_schema": {"name": name or "fields", "schema": schema, "strict": True}}


def request_body(part: RequestPart, opts: RequestOptions, annotation: AnnotationRequest | None = None) -> dict[str, Any]:
    """`annotation`: the document schema goes only in a request that holds every page of the document (the
    provider decides), the image schema in every request."""
    body: dict[str, Any] = {
        "model": opts.model,
        "document": part.document,
        "include_image_base64": opts.include_image_base64,
    }
    # optional fields are sent only when asked for, so servers of older models accept the request
    if opts.table_format:
        body["table_format"] = opts.table_format
    if opts.extract_header:
        body["extract_header"] = True
    if opts.extract_footer:
        body["extract_footer"] = True
    if opts.include_blocks is not None:
        body["include_blocks"] = opts.include_blocks
    if opts.confidence_scores:
        body["confidence_scores_granularity"] = opts.confidence_scores
    if opts.image_limit is not None:
        body["image_limit"] = opts.image_limit
    if opts.image_min_size is not None:
        body["image_min_size"] = opts.image_min_size
    if annotation is not None:
        if annotation.schema is not None:
            body["document_annotation_format"] = _response_format(annotation.schema_name, annotation.schema)
            if annotation.prompt:
                body["document_annotation_prompt"] = annotation.prompt  # needs document_annotation_format
        if annotation.image_schema is not None:
            body["bbox_annotation_format"] = _response_format(annotation.image_schema_name, annotation.image_schema)
    return body


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _pdf_part(pages: list[int], data: bytes) -> RequestPart:
    doc = {"type": "document_url", "document_url": _data_uri("application/pdf", data)}
    return RequestPart(pages, doc, len(data))


def _too_big(page: int, size: int, max_bytes: int) -> OversizedInput:
    return OversizedInput(
        f"page {page} alone is {size / 1e6:.1f} MB, over the provider's {max_bytes / 1e6:.0f} MB per request"
    )


def _subset_pdf(pdf: pdfium.PdfDocument, pages: list[int]) -> bytes:
    small = pdfium.PdfDocument.new()
    try:
        small.import_pages(pdf, pages)
        buf = io.BytesIO()
        small.save(buf)
        return buf.getvalue()
    finally:
        small.close()


def _split_to_fit(
    pages: list[int], build: Any, max_bytes: int
) -> Iterator[RequestPart]:
    """Build a part for `pages`; halve it while it is over `max_bytes`."""
    data = build(pages)
    if len(data) <= max_bytes:
        yield _pdf_part(pages, data)
        return
    if len(pages) == 1:
        raise _too_big(pages[0], len(data), max_bytes)
    half = len(pages) // 2
    yield from _split_to_fit(pages[:half], build, max_bytes)
    yield from _split_to_fit(pages[half:], build, max_bytes)


def _chunks(pages: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(pages), size):
        yield list(pages[i : i + size])


def _pdf_parts(
    source: SourceDocument, pages: Sequence[int], max_bytes: int, max_pages: int, pdfs: OpenPdfCache | None
) -> list[RequestPart]:
    opened = pdfs.document(source.path, source.password) if pdfs else open_pdf(source.path, source.password)
    with opened as pdf:
        try:
            return [
                part
                for chunk in _chunks(pages, max_pages)
                for part in _split_to_fit(chunk, lambda p: _subset_pdf(pdf, p), max_bytes)
            ]
        except pdfium.PdfiumError as exc:
            raise CorruptInput(f"the PDF's pages could not be copied for sending ({exc})") from None


def _frames_pdf(path: Any, pages: list[int]) -> bytes:
    wanted = set(pages)
    frames: list[Image.Image] = []
    with Image.open(path) as im:
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            if i in wanted:
                frames.append(frame.convert("RGB") if frame.mode not in ("1", "L", "RGB") else frame.copy())
    buf = io.BytesIO()
    frames[0].save(buf, "PDF", save_all=True, append_images=frames[1:], resolution=300.0)
    return buf.getvalue()


def _image_parts(source: SourceDocument, pages: Sequence[int], max_bytes: int, max_pages: int) -> list[RequestPart]:
    if list(pages) == [0] and source.page_count <= 1 and source.mime_type in IMAGE_URL_TYPES:
        data = source.path.read_bytes()
        if len(data) > max_bytes:
            raise _too_big(0, len(data), max_bytes)
        return [RequestPart([0], {"type": "image_url", "image_url": _data_uri(source.mime_type, data)}, len(data))]
    try:
        return [
            part
            for chunk in _chunks(pages, max_pages)
            for part in _split_to_fit(chunk, lambda p: _frames_pdf(source.path, p), max_bytes)
        ]
    except (OSError, ValueError) as exc:
        raise CorruptInput(f"the image's frames could not be read ({exc})") from None


def plan_parts(
    source: SourceDocument, pages: Sequence[int], max_bytes: int, max_pages: int, pdfs: OpenPdfCache | None = None
) -> list[RequestPart]:
    """The requests for `pages` of `source`, in page order, each within the provider's limits. `pdfs` keeps
    source PDFs open between calls (ranges of one document follow each other)."""
    if not pages:
        return []
    if source.kind == "pdf":
        return _pdf_parts(source, pages, max_bytes, max_pages, pdfs)
    return _image_parts(source, pages, max_bytes, max_pages)
