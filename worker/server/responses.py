"""Assemble the `/v1/ocr` response from the engine's pages: image ids numbered across the document, and the
optional parts the engine filled (confidence when asked for, tables, header/footer, links, blocks) in
Mistral's shape, so the official SDK sees one shape from this server and from Mistral."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ..documents.mime import image_bytes_mime
from ..providers.base import OcrBlock, OcrPage
from .schemas import (
    OCRConfidenceScore,
    OCRImageObject,
    OCRPageConfidenceScores,
    OCRPageDimensions,
    OCRPageObject,
    OCRResponse,
    OCRUsageInfo,
)

__all__ = ["build_response"]

_EXT = {"image/jpeg": "jpeg", "image/png": "png"}


def _data_uri(data: bytes) -> str:
    mime = image_bytes_mime(data) or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _confidence(page: OcrPage, granularity: str | None) -> OCRPageConfidenceScores | None:
    conf = page.confidence
    if not granularity or conf is None or conf.average is None or conf.minimum is None:
        return None
    words = None
    if granularity == "word" and conf.words:
        words = [OCRConfidenceScore(**w) for w in conf.words]
    return OCRPageConfidenceScores(average_page_confidence_score=conf.average,
                                   minimum_page_confidence_score=conf.minimum, word_confidence_scores=words)


def _block(block: OcrBlock, granularity: str | None, renamed: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": block.type, "top_left_x": block.top_left_x or 0,
                           "top_left_y": block.top_left_y or 0, "bottom_right_x": block.bottom_right_x or 0,
                           "bottom_right_y": block.bottom_right_y or 0, "content": block.content}
    if block.image_id is not None:
        out["image_id"] = renamed.get(block.image_id, block.image_id)
    if block.table_id is not None:
        out["table_id"] = block.table_id
    if granularity == "block" and (block.scores or block.confidence is not None):
        out["confidence_scores"] = block.scores or {"average_content_confidence_score": block.confidence}
    return out


def _page(page: OcrPage, first_id: int, room: int | None, with_base64: bool,
          with_blocks: bool, granularity: str | None = None) -> tuple[OCRPageObject, int]:
    images: list[OCRImageObject] = []
    markdown = page.markdown
    kept = page.images[: room if room is not None else None]
    # the engine's own placeholders (figures it cut out of a scan) are renamed where they stand, through
    # tokens so that img-0 -> img-1 cannot then be renamed again; pictures over the limit lose theirs
    renames: list[tuple[str, str]] = []
    renamed: dict[str, str] = {}
    for image in page.images[len(kept):]:
        markdown = markdown.replace(f"![{image.id}]({image.id})", "")
    for image in kept:
        ext = _EXT.get(image_bytes_mime(image.data) or "", "jpeg") if image.data else "jpeg"
        if image.data is None and image.id.rsplit(".", 1)[-1] in _EXT.values():
            ext = image.id.rsplit(".", 1)[-1]
        name = f"img-{first_id + len(images)}.{ext}"
        images.append(OCRImageObject(
            id=name, top_left_x=image.top_left_x, top_left_y=image.top_left_y,
            bottom_right_x=image.bottom_right_x, bottom_right_y=image.bottom_right_y,
            image_base64=_data_uri(image.data) if with_base64 and image.data else None,
        ))
        renamed[image.id] = name
        placeholder = f"![{image.id}]({image.id})"
        if image.id and placeholder in markdown:
            token = f"\x00{len(renames)}\x00"
            markdown = markdown.replace(placeholder, token)
            renames.append((token, f"![{name}]({name})"))
        else:
            markdown = f"{markdown}\n\n![{name}]({name})" if markdown else f"![{name}]({name})"
    for token, final in renames:
        markdown = markdown.replace(token, final)
    dimensions = (OCRPageDimensions(dpi=page.dpi or 0, height=page.height, width=page.width)
                  if page.width is not None and page.height is not None else None)
    blocks = [_block(b, granularity, renamed) for b in page.blocks or []] if with_blocks else None
    tables = [{"id": t.id, "content": t.content, "format": t.format} for t in page.tables]
    return OCRPageObject(index=page.index, markdown=markdown, images=images, dimensions=dimensions,
                         tables=tables, hyperlinks=list(page.hyperlinks), header=page.header, footer=page.footer,
                         blocks=blocks, confidence_scores=_confidence(page, granularity)), len(images)


def build_response(pages: Sequence[OcrPage], model: str, doc_size_bytes: int, image_limit: int | None,
                   with_base64: bool, with_blocks: bool, granularity: str | None = None) -> OCRResponse:
    out: list[OCRPageObject] = []
    used = 0
    for page in pages:
        room = None if image_limit is None else max(0, image_limit - used)
        obj, n = _page(page, used, room, with_base64, with_blocks, granularity)
        used += n
        out.append(obj)
    return OCRResponse(pages=out, model=model,
                       usage_info=OCRUsageInfo(pages_processed=len(out), doc_size_bytes=doc_size_bytes))
