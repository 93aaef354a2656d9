"""The Mistral OCR provider: `POST {PAGEMILL_OCR_BASE_URL}/v1/ocr` with only the pages of one range.

Each request waits for the shared rate limiter (worker/ratelimit/limiter.py) and holds one in-flight slot while it
runs. A 429 slows every worker through the shared limiter (`slow_down`: in proportion for a near miss, a full
pause for a long Retry-After or 429s in a row), then raises `RateLimited` so the task retries after
Retry-After; 5xx/timeouts raise `ProviderUnavailable`; 400/404/422 `ProviderRejected` with the server's
message; 401/403 `ProviderAuthError` ("check MISTRAL_API_KEY"), which stops the job. The connection, the key
(a SecretStr, in the request headers only: never in a message, a log line or a repr) and the error mapping are
worker/http_api.py's; this module owns the OCR request and how a range is split into requests and put back
together.

Annotations (`source.annotation`, structured extraction): the document schema is sent as
`document_annotation_format` only when the range goes as one request (one document, one annotation), the
image schema as `bbox_annotation_format` in every request. A 400/422 to a request carrying them is sent once
more without them: the pages are OCR'd, and the refusal becomes the document's fields error
(`OcrResult.annotation_error`), so the fields are extracted from the stored markdown instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from models.errors import PagemillError, ProviderRejected, RateLimited

from ..documents.pdf_cache import OpenPdfCache
from ..http_api import DEFAULT_COOLDOWN_S, BearerApiClient
from ._mistral_errors import OCR_ERRORS
from .base import AnnotationRequest, OcrPage, OcrResult, OcrUsage, SourceDocument
from .mistral_request import RequestOptions, RequestPart, plan_parts, request_body
from .mistral_response import ParsedResponse, parse_response

if TYPE_CHECKING:
    from ..ratelimit.limiter import RateLimiter
    from ..settings import WorkerSettings

__all__ = ["MistralProvider", "combine", "request_options", "DEFAULT_COOLDOWN_S", "OCR_PATH"]

log = logging.getLogger("pagemill.worker.mistral")

OCR_PATH = "/v1/ocr"


def request_options(settings: WorkerSettings) -> RequestOptions:
    """What every OCR request asks for, from the settings: the synchronous path and batch lines share it."""
    return RequestOptions(
        model=settings.ocr_model,
        include_image_base64=settings.include_image_base64,
        table_format=settings.table_format,
        extract_header=settings.extract_header,
        extract_footer=settings.extract_footer,
        include_blocks=settings.include_blocks,
        confidence_scores=settings.confidence_scores,
        image_limit=settings.image_limit,
        image_min_size=settings.image_min_size,
    )


def combine(parsed: list[ParsedResponse], default_model: str, annotated: bool = False,
            annotation_error: str | None = None) -> OcrResult:
    """The answers to a range's requests as one billed result (the batch path combines its lines the same way)."""
    out_pages: list[OcrPage] = sorted((p for r in parsed for p in r.pages), key=lambda p: p.index)
    sizes = [r.usage.doc_size_bytes for r in parsed if r.usage.doc_size_bytes is not None]
    usage = OcrUsage(
        pages_processed=sum(r.usage.pages_processed for r in parsed),
        doc_size_bytes=sum(sizes) if sizes else None,
    )
    model = next((r.model for r in parsed if r.model), None) or default_model
    # one annotation per request; a range sent as several requests keeps the first (they describe parts)
    annotation = next((r.document_annotation for r in parsed if r.document_annotation is not None), None)
    return OcrResult(pages=out_pages, model=model, usage=usage, billed=True, document_annotation=annotation,
                     annotation_error=annotation_error, annotated=annotated)


@dataclass
class _Sent:
    """The answers of one range's requests so far."""

    parsed: list[ParsedResponse] = field(default_factory=list)
    annotated: bool = False  # a request carried an annotation format: billed at the annotated rate
    annotation_error: str | None = None


class MistralProvider:
    name = "mistral"

    def __init__(
        self,
        options: RequestOptions,
        api_key: SecretStr | str | None = None,
        base_url: str = "https://api.mistral.ai",
        timeout_s: float = 120.0,
        limiter: RateLimiter | None = None,
        client: httpx.Client | None = None,
        max_request_bytes: int = 50_000_000,
        max_request_pages: int = 1000,
    ) -> None:
        self.options = options
        self.max_request_bytes = max_request_bytes
        self.max_request_pages = max_request_pages
        self._api = BearerApiClient(
            base_url, api_key, OCR_ERRORS, timeout_s, limiter, client, metrics_label=self.name
        )
        self._pdfs = OpenPdfCache()

    def __repr__(self) -> str:
        return f"MistralProvider(base_url={self.base_url!r}, model={self.options.model!r})"

    @property
    def base_url(self) -> str:
        return self._api.base_url

    @classmethod
    def from_settings(cls, settings: WorkerSettings, client: httpx.Client | None = None) -> MistralProvider:
        from ..ratelimit.limiter import build_limiter

        return cls(
            request_options(settings),
            api_key=settings.api_key,
            base_url=settings.ocr_base_url,
            timeout_s=settings.request_timeout_s,
            limiter=build_limiter(settings, name="ocr"),
            client=client,
            max_request_bytes=settings.max_request_mb * 1_000_000,
            max_request_pages=settings.max_request_pages,
        )

    @property
    def model(self) -> str:
        return self.options.model

    def warm(self) -> None:
        """Open the HTTP client (its TLS context takes tens of ms) before the first range needs it."""
        self._api.http()

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        headers = self._api.headers()  # a missing key fails before any work
        parts = plan_parts(source, pages, self.max_request_bytes, self.max_request_pages, self._pdfs)
        annotation = source.annotation
        sent = _Sent()
        if annotation is not None and annotation.schema is not None and len(parts) > 1:
            # one document, one annotation: a document that needs several requests gets none in the OCR
            sent.annotation_error = (
                f"the document needed {len(parts)} OCR requests (over {self.max_request_bytes / 1e6:.0f} MB in one):"
                " its fields are extracted from the stored markdown instead")
            annotation = replace(annotation, schema=None)
        if annotation is not None and annotation.schema is None and annotation.image_schema is None:
            annotation = None
        for part in parts:
            try:
                annotation = self._send_part(part, headers, annotation, sent)
            except PagemillError as err:
                if sent.parsed:
                    # earlier parts of this range were answered and billed: hand them back to be stored
                    err.partial = self._combine(sent)
                    if isinstance(err, RateLimited):
                        err.sent = True
                raise
        return self._combine(sent)

    def _send_part(
        self, part: RequestPart, headers: dict[str, str], annotation: AnnotationRequest | None, sent: _Sent
    ) -> AnnotationRequest | None:
        """Send one part; returns the annotation the next parts ask for. A 400/422 to a request carrying
        annotation formats is asked once more without them (a schema the server refuses: nullable numbers,
        `.optional()`): the pages are OCR'd, and the refusal is the document's fields error."""
        try:
            sent.parsed.append(self._send(part, headers, annotation))
            sent.annotated = sent.annotated or annotation is not None
            return annotation
        except ProviderRejected as err:
            if annotation is None:
                raise
            log.warning("the OCR server refused the annotation request; sending the pages without it: %s",
                        err.message)
            if annotation.schema is not None:
                sent.annotation_error = f"the OCR server refused the annotation schema: {err.message}"
            sent.parsed.append(self._send(part, headers, None))
            return None

    def _combine(self, sent: _Sent) -> OcrResult:
        return combine(sent.parsed, self.options.model, sent.annotated, sent.annotation_error)

    def _send(self, part: RequestPart, headers: dict[str, str], annotation: AnnotationRequest | None = None
              ) -> ParsedResponse:
        content = json.dumps(request_body(part, self.options, annotation)).encode()
        response = self._api.send(OCR_PATH, content, headers)
        return parse_response(response.content, part.pages, self.name)

    def close(self) -> None:
        self._api.close()
        self._pdfs.close()
