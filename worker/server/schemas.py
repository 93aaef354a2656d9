"""Request and response bodies of `/v1/ocr` and `/v1/files`, as the Mistral contract defines them.

Requests accept unknown fields (clients send fields of newer API versions, e.g. SDK 3.x's `include_blocks`);
`unknown_fields()` lists them so strict mode can refuse them. Responses always carry the keys the official
SDK requires (`images`, `dimensions`), even when empty.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

__all__ = [
    "DocumentURLChunk",
    "ImageURL",
    "ImageURLChunk",
    "FileChunk",
    "OCRRequest",
    "OCRImageObject",
    "OCRPageDimensions",
    "OCRPageObject",
    "OCRUsageInfo",
    "OCRResponse",
    "FileObject",
    "SignedURL",
    "DeletedFile",
    "parse_pages",
    "unknown_fields",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DocumentURLChunk(_Open):
    type: Literal["document_url"] = "document_url"
    document_url: str
    document_name: str | None = None


class ImageURL(_Open):
    url: str
    detail: str | None = None


class ImageURLChunk(_Open):
    type: Literal["image_url"] = "image_url"
    image_url: str | ImageURL

    @property
    def url(self) -> str:
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


class FileChunk(_Open):
    type: Literal["file"] = "file"
    file_id: str


def _chunk_kind(value: Any) -> str | None:
    """`type` may be omitted (it defaults to the matching constant): infer it from the keys then."""
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None:
            for key in ("document_url", "image_url", "file_id"):
                if key in value:
                    return "file" if key == "file_id" else key
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


Document = Annotated[
    Annotated[DocumentURLChunk, Tag("document_url")]
    | Annotated[ImageURLChunk, Tag("image_url")]
    | Annotated[FileChunk, Tag("file")],
    Discriminator(_chunk_kind),
]


class OCRRequest(_Open):
    model: str | None
    document: Document
    pages: list[int] | str | None = None
    include_image_base64: bool | None = None
    image_limit: int | None = Field(default=None, ge=0)
    image_min_size: int | None = Field(default=None, ge=0)
    # known fields of the contract that the local engine accepts and has nothing to say about
    bbox_annotation_format: dict[str, Any] | None = None
    document_annotation_format: dict[str, Any] | None = None
    document_annotation_prompt: str | None = None
    table_format: Literal["markdown", "html"] | None = None
    extract_header: bool | None = None
    extract_footer: bool | None = None
    include_blocks: bool | None = None
    confidence_scores_granularity: Literal["page", "word", "block"] | None = None

    @field_validator("pages")
    @classmethod
    def _pages_syntax(cls, value: list[int] | str | None) -> list[int] | str | None:
        if isinstance(value, str):
            parse_pages(value, None)
        elif value is not None and any(p < 0 for p in value):
            raise ValueError("page numbers are 0-based and cannot be negative")
        return value


def parse_pages(spec: list[int] | str | None, page_count: int | None) -> list[int] | None:
    """`[0, 2]` or `"0-2,5"` as a sorted list of distinct 0-based pages; None means every page.

    With `page_count`, pages past the end raise ValueError (the caller turns it into a 422)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        pages: set[int] = set()
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
                raise ValueError(f"pages {spec!r}: expected 0-based numbers and ranges such as \"0-2,5\"")
            start, end = int(lo), int(hi) if sep else int(lo)
            if end < start:
                raise ValueError(f"pages {spec!r}: the range {part!r} runs backwards")
            if end - start > 100_000:
                raise ValueError(f"pages {spec!r}: the range {part!r} is too long")
            pages.update(range(start, end + 1))
        chosen = sorted(pages)
    else:
        chosen = sorted(set(spec))
    if not chosen:
        raise ValueError("pages: the selection is empty")
    if page_count is not None and chosen[-1] >= page_count:
        raise ValueError(
            f"pages: page {chosen[-1]} does not exist; the document has {page_count} page(s), numbered from 0"
        )
    return chosen


def unknown_fields(model: BaseModel, loc: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    """Validation errors, in FastAPI's shape, for every field the contract does not define."""
    errors: list[dict[str, Any]] = []
    for key, value in (model.model_extra or {}).items():
        errors.append({"type": "extra_forbidden", "loc": [*loc, key], "msg": "Extra inputs are not permitted",
                       "input": value})
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            errors.extend(unknown_fields(value, (*loc, name)))
    return errors


class OCRImageObject(BaseModel):
    id: str
    top_left_x: int | None
    top_left_y: int | None
    bottom_right_x: int | None
    bottom_right_y: int | None
    image_base64: str | None = None
    image_annotation: str | None = None


class OCRPageDimensions(BaseModel):
    dpi: int
    height: int
    width: int


class OCRConfidenceScore(BaseModel):
    text: str
    confidence: float
    start_index: int


class OCRPageConfidenceScores(BaseModel):
    average_page_confidence_score: float
    minimum_page_confidence_score: float
    word_confidence_scores: list[OCRConfidenceScore] | None = None


class OCRPageObject(BaseModel):
    index: int
    markdown: str
    images: list[OCRImageObject]
    dimensions: OCRPageDimensions | None
    tables: list[dict[str, Any]] = Field(default_factory=list)
    hyperlinks: list[str] = Field(default_factory=list)
    header: str | None = None
    footer: str | None = None
    blocks: list[dict[str, Any]] | None = None
    confidence_scores: OCRPageConfidenceScores | None = None


class OCRUsageInfo(BaseModel):
    pages_processed: int
    doc_size_bytes: int | None


class OCRResponse(BaseModel):
    pages: list[OCRPageObject]
    model: str
    document_annotation: str | None = None
    usage_info: OCRUsageInfo


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    sample_type: str = "ocr_input"
    source: str = "upload"
    num_lines: int | None = 0
    mimetype: str | None = None
    signature: str | None = None
    expires_at: int | None = None
    deleted: bool = False


class SignedURL(BaseModel):
    url: str


class DeletedFile(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
