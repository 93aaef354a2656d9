"""Read an `OCRResponse` body defensively and map its pages back to the original document.

Required keys follow the official SDK's models (pages[index, markdown, images, dimensions], model, usage_info);
everything else is optional and read by _mistral_parts.py, which keeps what it can of a malformed optional
part and never fails the page for it. Page indices are positions in the *sent* document (our small PDF or image), and
are mapped to the original page numbers here. Images arrive as a data URI or bare base64 and are decoded to
bytes; their ids are kept only to find placeholders (persist.py chooses the stored names).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.errors import MalformedResponse

from ._mistral_parts import (
    parse_blocks,
    parse_confidence,
    parse_hyperlinks,
    parse_tables,
    parse_text,
)
from .base import OcrImage, OcrPage, OcrUsage

__all__ = ["ParsedResponse", "parse_response", "decode_image"]

log = logging.getLogger("pagemill.worker.mistral")


@dataclass
class ParsedResponse:
    pages: list[OcrPage]
    model: str | None
    usage: OcrUsage
    document_annotation: str | None = None  # a JSON string, as sent; validated by worker/extraction/annotation.py


def decode_image(value: str | None) -> bytes | None:
    """`data:image/jpeg;base64,...` or bare base64 to bytes; None when absent or undecodable."""
    if not value:
        return None
    payload = value
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        if not sep or ";base64" not in header:
            return None
    payload = "".join(payload.split())
    payload += "=" * (-len(payload) % 4)
    try:
        return base64.b64decode(payload, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _image(raw: Any, page_no: int) -> OcrImage:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        raise MalformedResponse(f"an image on page {page_no} has no id")
    data = decode_image(raw.get("image_base64"))
    if raw.get("image_base64") and data is None:
        log.warning("an image on page %s was not valid base64; it is skipped", page_no)
    annotation = raw.get("image_annotation")
    return OcrImage(
        id=raw["id"],
        top_left_x=_int(raw.get("top_left_x")),
        top_left_y=_int(raw.get("top_left_y")),
        bottom_right_x=_int(raw.get("bottom_right_x")),
        bottom_right_y=_int(raw.get("bottom_right_y")),
        data=data,
        annotation=annotation if isinstance(annotation, str) else None,
    )


def _page(raw: Any, sent: Sequence[int], source: str) -> OcrPage:
    if not isinstance(raw, Mapping):
        raise MalformedResponse("a page in the response is not an object")
    index, markdown = raw.get("index"), raw.get("markdown")
    if _int(index) is None or not isinstance(markdown, str) or not isinstance(raw.get("images", None), list):
        raise MalformedResponse("a page in the response lacks index, markdown or images")
    if not 0 <= index < len(sent):
        raise MalformedResponse(f"the response has page index {index}, but {len(sent)} page(s) were sent")
    original = sent[index]
    dims = raw.get("dimensions") if isinstance(raw.get("dimensions"), Mapping) else {}
    return OcrPage(
        index=original,
        markdown=markdown,
        images=[_image(im, original) for im in raw["images"]],
        width=_int(dims.get("width")),
        height=_int(dims.get("height")),
        dpi=_int(dims.get("dpi")),
        source=source,
        tables=parse_tables(raw.get("tables"), original),
        header=parse_text(raw, "header", original),
        footer=parse_text(raw, "footer", original),
        hyperlinks=parse_hyperlinks(raw.get("hyperlinks"), original),
        blocks=parse_blocks(raw.get("blocks"), original),
        confidence=parse_confidence(raw.get("confidence_scores"), original),
    )


def _usage(raw: Any, pages: int) -> OcrUsage:
    if not isinstance(raw, Mapping) or _int(raw.get("pages_processed")) is None:
        # some compatible servers omit it: bill what came back rather than nothing
        return OcrUsage(pages_processed=pages)
    return OcrUsage(pages_processed=raw["pages_processed"], doc_size_bytes=_int(raw.get("doc_size_bytes")))


def parse_response(body: bytes, sent: Sequence[int], source: str = "mistral") -> ParsedResponse:
    """`sent[i]` is the original page at position i of the sent document."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"the OCR server sent a body that is not JSON ({len(body)} bytes)") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("pages"), list):
        raise MalformedResponse("the OCR server's response has no `pages` list")
    pages = [_page(p, sent, source) for p in data["pages"]]
    got = sorted(p.index for p in pages)
    if got != sorted(sent):
        missing = sorted(set(sent) - set(got))
        raise MalformedResponse(
            f"the response covers pages {got} but {sorted(sent)} were sent (missing {missing})"
        )
    model = data.get("model") if isinstance(data.get("model"), str) else None
    annotation = data.get("document_annotation")
    if annotation is not None and not isinstance(annotation, str):
        annotation = json.dumps(annotation)  # an object where the contract says string: kept, still validated
    return ParsedResponse(sorted(pages, key=lambda p: p.index), model, _usage(data.get("usage_info"), len(pages)),
                          annotation)
