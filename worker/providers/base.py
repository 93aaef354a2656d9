"""The one interface every OCR provider implements, and the plain result types it returns.

Results follow the Mistral `OCRResponse` shape (pages with index, markdown, images with bbox, dimensions;
usage). Providers never touch the database: tasks persist what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AnnotationRequest",
    "SourceDocument",
    "OcrImage",
    "OcrTable",
    "OcrBlock",
    "OcrConfidence",
    "OcrPage",
    "OcrUsage",
    "OcrResult",
    "OcrProvider",
]


@dataclass(frozen=True)
class AnnotationRequest:
    """What an OCR request asks to be annotated (Mistral's document_annotation_format / bbox_annotation_format).
    `schema` is set only when the request carries the whole document: one document, one annotation."""

    schema_name: str | None = None
    schema_sha256: str | None = None
    schema: dict[str, Any] | None = None
    prompt: str | None = None  # document_annotation_prompt
    image_schema_name: str | None = None
    image_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class SourceDocument:
    """A document as stored in the object store (a folder or a bucket). `kind` is "pdf" or "image"."""

    path: Path
    mime_type: str
    kind: str
    page_count: int
    password: str | None = None
    annotation: AnnotationRequest | None = None  # providers that cannot annotate ignore it


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
class OcrTable:
    """A table the provider took out of the markdown (`table_format`); `[id](id)` marks its place there."""

    id: str
    content: str
    format: str = "markdown"  # "markdown" or "html"
    word_confidence: list[dict[str, Any]] | None = None  # the table's `word_confidence_scores`, as for pages


@dataclass
class OcrBlock:
    """A typed layout block in the OCR 4 shape. The box is in pixels of the page's `dimensions`."""

    type: str  # text, title, list, table, image, equation, caption, code, references, aside_text, header, ...
    content: str = ""
    top_left_x: int | None = None
    top_left_y: int | None = None
    bottom_right_x: int | None = None
    bottom_right_y: int | None = None
    image_id: str | None = None
    table_id: str | None = None
    confidence: float | None = None  # block-level score, when asked for and given
    # the block's whole `confidence_scores` object as sent (average/minimum content, block type), so exports
    # give back what the provider said; `confidence` is its average_content_confidence_score
    scores: dict[str, float] | None = None


@dataclass
class OcrConfidence:
    """Scores in 0..1. `words` holds `{text, confidence, start_index}` (an offset into the markdown)."""

    average: float | None = None
    minimum: float | None = None
    words: list[dict[str, Any]] | None = None


@dataclass
class OcrPage:
    index: int  # 0-based index in the ORIGINAL document
    markdown: str
    images: list[OcrImage] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    dpi: int | None = None
    source: str = ""  # provider name, or "text_layer"
    # the optional parts of an OCRPageObject: kept, never dropped (None/empty when the provider gave none)
    tables: list[OcrTable] = field(default_factory=list)
    header: str | None = None
    footer: str | None = None
    hyperlinks: list[str] = field(default_factory=list)
    blocks: list[OcrBlock] | None = None
    confidence: OcrConfidence | None = None
    # the local engine's word boxes in page pixels (`worker.layout.word_boxes`), kept so a searchable PDF can be
    # written later without OCR again; None for providers that give no word boxes
    words: dict[str, Any] | None = None


@dataclass
class OcrUsage:
    pages_processed: int = 0
    doc_size_bytes: int | None = None
    # token-billed providers (vlm): the tokens of every request the pages took, and their price when known
    # (None: the ledger prices pages_processed at the per-page rate, as for Mistral OCR)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


@dataclass
class OcrResult:
    pages: list[OcrPage]
    model: str | None = None
    usage: OcrUsage = field(default_factory=OcrUsage)
    billed: bool = False  # True when a paid provider answered: the usage goes into the ledger
    document_annotation: str | None = None  # the provider's JSON string, as sent (document_annotation_format)
    # why a document annotation that was asked for is missing (the server refused the schema, the document
    # needed several requests): the pages are kept and the fields come from the stored markdown instead
    annotation_error: str | None = None
    annotated: bool = False  # the request carried an annotation format: its pages bill at the annotated rate


@runtime_checkable
class OcrProvider(Protocol):
    """OCR for some pages of one document. Raise `models.errors.PagemillError` subclasses, nothing else."""

    name: str

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult: ...

    def close(self) -> None: ...
