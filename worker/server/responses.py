"""Assemble the `/v1/ocr` response from the engine's pages: image ids numbered across the document."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from ..documents import image_bytes_mime
from ..providers.base import OcrPage
from .schemas import OCRImageObject, OCRPageDimensions, OCRPageObject, OCRResponse, OCRUsageInfo

__all__ = ["build_response"]

_EXT = {"image/jpeg": "jpeg", "image/png": "png"}


def _data_uri(data: bytes) -> str:
    mime = image_bytes_mime(data) or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _page(page: OcrPage, first_id: int, room: int | None, with_base64: bool,
          with_blocks: bool) -> tuple[OCRPageObject, int]:
    images: list[OCRImageObject] = []
    markdown = page.markdown
    for image in page.images[: room if room is not None else None]:
        ext = _EXT.get(image_bytes_mime(image.data) or "", "jpeg") if image.data else "jpeg"
        name = f"img-{first_id + len(images)}.{ext}"
        images.append(OCRImageObject(
            id=name, top_left_x=image.top_left_x, top_left_y=image.top_left_y,
            bottom_right_x=image.bottom_right_x, bottom_right_y=image.bottom_right_y,
            image_base64=_data_uri(image.data) if with_base64 and image.data else None,
        ))
        markdown = f"{markdown}\n\n![{name}]({name})" if markdown else f"![{name}]({name})"
    dimensions = (OCRPageDimensions(dpi=page.dpi or 0, height=page.height, width=page.width)
                  if page.width is not None and page.height is not None else None)
    return OCRPageObject(index=page.index, markdown=markdown, images=images, dimensions=dimensions,
                         blocks=[] if with_blocks else None), len(images)


def build_response(pages: Sequence[OcrPage], model: str, doc_size_bytes: int, image_limit: int | None,
                   with_base64: bool, with_blocks: bool) -> OCRResponse:
    out: list[OCRPageObject] = []
    used = 0
    for page in pages:
        room = None if image_limit is None else max(0, image_limit - used)
        obj, n = _page(page, used, room, with_base64, with_blocks)
        used += n
        out.append(obj)
    return OCRResponse(pages=out, model=model,
                       usage_info=OCRUsageInfo(pages_processed=len(out), doc_size_bytes=doc_size_bytes))
