"""The one interface every OCR provider implements, and the plain result types it returns.

Results follow the Mistral `OCRResponse` shape (pages with index, markdown, images with bbox, dimensions;
usage). Providers never touch the database: tasks persist what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "SourceDocument",
    "OcrImage",
    "OcrPage",
    "OcrUsage",
    "OcrResult",
    "OcrProvider",
]


@dataclass(frozen=True)
class SourceDocument:
    """A document as stored in the object folder. `kind` is "pdf" or "image"."""

    path: Path
    mime_type: str
    kind: str
    page_count: int
    password: str | None = None


@dataclass
class OcrImage:
    """An image cut out of a page. `data` holds the decoded bytes (None if the provider sent none)."""

    id: str
    top_left_x: int | None = None
    top_left_y: int | None = None
    bottom_right_x: int | None = None
    bottom_right_y: int | None = None
    data: bytes | None = None
    annotation: str | None = None


@dataclass
class OcrPage:
    index: int  # 0-based index in the ORIGINAL document
    markdown: str
    images: list[OcrImage] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    dpi: int | None = None
    source: str = ""  # provider name, or "text_layer"


@dataclass
class OcrUsage:
    pages_processed: int = 0
    doc_size_bytes: int | None = None


@dataclass
class OcrResult:
    pages: list[OcrPage]
    model: str | None = None
    usage: OcrUsage = field(default_factory=OcrUsage)
    billed: bool = False  # True when a paid provider answered: the usage goes into the ledger


@runtime_checkable
class OcrProvider(Protocol):
    """OCR for some pages of one document. Raise `models.errors.PagemillError` subclasses, nothing else."""

    name: str

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult: ...

    def close(self) -> None: ...
