"""A real HTTP server on 127.0.0.1 that speaks the Mistral `POST /v1/ocr` contract, with fault injection.

    with MistralServer(api_key="sk-test") as server:
        server.inject(Fault(429, headers={"Retry-After": "1"}), Fault(503))   # the next two requests fail
        ...  # PAGEMILL_OCR_BASE_URL=server.url

Pages are answered by really reading what was sent: the text layer of each page of a `document_url` PDF
(pypdfium2), so a test can check that page k of the original came back as page k. Requests are checked the way
the real API does (required fields, no unknown fields, data URIs), and every request is recorded.
Options: `images_per_page` (a small PNG cut from the rendered page), `image_ids` (override ids, e.g. hostile
ones), `bare_base64`, `rate_limit` (R requests/s over a sliding 1 s window, 429 above it), `latency_s`,
`structure` (a `Structure`: every page also has a table, header, footer, links, and blocks and confidence
scores as the request asks, see mistral_structure.py), `page_hook` (rewrites each page object before it is
sent: malformed answers).

Annotations: a request with `document_annotation_format` gets `document_annotation`, a JSON string built from
the request's schema and the pages' text (tests/fakes/schema_answer.py); `bbox_annotation_format` fills each
image's `image_annotation` the same way. `annotation_mode` makes it misbehave: "not_json", "double" (a JSON
string holding JSON), "breaks" (an object that ignores the schema), "empty", or "reject" (400 to any request
carrying an annotation format, as the real API answers schemas it cannot take). Request bodies are also
validated as the official SDK's `OCRRequest` (and its `ResponseFormat`/`JSONSchema`).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
from PIL import Image

from tests.fakes._http_fake import ERROR_BODIES, Answer, Fault, LoopbackServer
from tests.fakes.mistral_structure import Structure, enrich
from tests.fakes.schema_answer import fill_from_text
from worker.documents.inspect import PDFIUM_LOCK as _PDFIUM_LOCK  # one lock per process for all PDFium use

__all__ = ["Fault", "MistralServer", "Received", "ERROR_BODIES", "Structure"]

_ALLOWED = {
    "model", "document", "pages", "include_image_base64", "image_limit", "image_min_size", "bbox_annotation_format",
    "document_annotation_format", "document_annotation_prompt", "table_format", "extract_header", "extract_footer",
    "include_blocks", "confidence_scores_granularity",
}


@dataclass
class Received:
    at: float
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    pages: int = 0


class MistralServer(LoopbackServer[Received]):
    def __init__(
        self,
        api_key: str | None = "sk-test-key",
        images_per_page: int = 0,
        image_ids: list[str] | None = None,
        bare_base64: bool = False,
        rate_limit: float | None = None,
        latency_s: float = 0.0,
        extract_text: bool = True,
        model: str = "mistral-ocr-2512",
        structure: Structure | None = None,
        page_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        annotation_mode: str = "valid",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.images_per_page = images_per_page
        self.image_ids = image_ids
        self.bare_base64 = bare_base64
        self.rate_limit = rate_limit
        self.latency_s = latency_s
        self.extract_text = extract_text
        self.model = model
        self.structure = structure
        self.page_hook = page_hook
        self.annotation_mode = annotation_mode
        self._window: deque[float] = deque()

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        if path != "/v1/ocr":
            return 404, {"detail": "Not Found"}, {}
        lower = {k.lower(): v for k, v in headers.items()}
        fault = self._next_fault()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        status, payload, out_headers, pages = self._decide(fault, body, lower)
        self._record(Received(time.time(), status, body, lower, pages))
        return status, payload, out_headers

    def _decide(
        self, fault: Fault | None, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, str], int]:
        if fault is not None:
            time.sleep(fault.delay_s)
            if fault.status == 200 and fault.body is None:  # a slow but correct answer
                return self._ocr(body)
            return fault.status, fault.body if fault.body is not None else {"detail": "injected"}, fault.headers, 0
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Unauthorized"}, {}, 0
        if self.rate_limit is not None and not self._admit():
            body429 = ERROR_BODIES["documented"]("Rate limit exceeded")
            return 429, body429, {"Retry-After": "1"}, 0
        if self.latency_s:
            time.sleep(self.latency_s)
        return self._ocr(body)

    def _admit(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= (self.rate_limit or 0):
                return False
            self._window.append(now)
            return True

    def _ocr(self, body: Any) -> tuple[int, dict[str, Any] | bytes, dict[str, str], int]:
        problem = _validate(body)
        if problem:
            return 422, ERROR_BODIES["fastapi"](problem), {}, 0
        annotated = "document_annotation_format" in body or "bbox_annotation_format" in body
        if annotated and self.annotation_mode == "reject":
            msg = "Invalid schema for response_format 'invoice': 'nullable' number types are not supported"
            return 400, ERROR_BODIES["documented"](msg), {}, 0
        doc = body["document"]
        url = doc.get("document_url") if doc["type"] == "document_url" else doc["image_url"]
        url = url["url"] if isinstance(url, dict) else url
        data = base64.b64decode(url.split(",", 1)[1])
        try:
            pages = self._pdf_pages(data) if doc["type"] == "document_url" else [self._image_page(data)]
        except Exception as exc:
            return 400, ERROR_BODIES["documented"](f"Document is not a valid PDF. ({exc})"), {}, 0
        out, counter = [], 0
        for index, (markdown, image, size) in enumerate(pages):
            images = []
            for _ in range(self.images_per_page):
                images.append(self._image_obj(counter, image, body.get("include_image_base64")))
                markdown += f"\n\n![{images[-1]['id']}]({images[-1]['id']})"
                counter += 1
            page = {"index": index, "markdown": markdown, "images": images, "tables": [], "hyperlinks": [],
                    "header": None, "footer": None,
                    "dimensions": {"dpi": 200, "height": size[1], "width": size[0]}}
            if self.structure is not None:
                page = enrich(page, body, index, self.model, self.structure)
            out.append(self.page_hook(page) if self.page_hook else page)
        usage = {"pages_processed": len(out), "doc_size_bytes": len(data)}
        image_format = body.get("bbox_annotation_format")
        if image_format:
            for page in out:
                for im in page["images"]:
                    im["image_annotation"] = json.dumps(fill_from_text(image_format["json_schema"]["schema"], ""))
        annotation = None
        if body.get("document_annotation_format"):
            schema = body["document_annotation_format"]["json_schema"]["schema"]
            annotation = self._annotation(schema, "\n\n".join(p["markdown"] for p in out))
        return 200, {"pages": out, "model": self.model, "document_annotation": annotation, "usage_info": usage}, {}, \
            len(out)

    def _annotation(self, schema: dict[str, Any], text: str) -> str:
        good = json.dumps(fill_from_text(schema, text))
        return {"valid": good, "not_json": good[:-1] + " (truncated", "double": json.dumps(good),
                "breaks": json.dumps({"answer": "I read an invoice."}), "empty": ""}[self.annotation_mode]

    def _pdf_pages(self, data: bytes) -> list[tuple[str, bytes | None, tuple[int, int]]]:
        with _PDFIUM_LOCK:  # PDFium is not thread-safe
            return self._pdf_pages_locked(data)

    def _pdf_pages_locked(self, data: bytes) -> list[tuple[str, bytes | None, tuple[int, int]]]:
        pdf = pdfium.PdfDocument(data)
        try:
            result = []
            for i in range(len(pdf)):
                page = pdf[i]
                w, h = page.get_size()
                text = ""
                if self.extract_text:
                    tp = page.get_textpage()
                    text = tp.get_text_bounded().strip()
                    tp.close()
                png = None
                if self.images_per_page:
                    png = _png(page.render(scale=20 / 72).to_pil().crop((0, 0, 40, 40)))
                page.close()
                result.append((text or f"(page {i} of the sent document)", png, (round(w * 200 / 72),
                                                                                 round(h * 200 / 72))))
            return result
        finally:
            pdf.close()

    def _image_page(self, data: bytes) -> tuple[str, bytes | None, tuple[int, int]]:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            png = _png(im.convert("RGB").resize((40, 40))) if self.images_per_page else None
        return f"An image of {size[0]}x{size[1]} pixels", png, size

    def _image_obj(self, n: int, png: bytes | None, include: Any) -> dict[str, Any]:
        ident = self.image_ids[n % len(self.image_ids)] if self.image_ids else f"img-{n}.png"
        b64 = None
        if include and png:
            b64 = base64.b64encode(png).decode()
            if not self.bare_base64:
                b64 = "data:image/png;base64," + b64
        return {"id": ident, "top_left_x": 10 + n, "top_left_y": 20, "bottom_right_x": 50 + n, "bottom_right_y": 60,
                "image_base64": b64, "image_annotation": None}


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _validate(body: Any) -> str | None:
    """The checks the real API makes before reading the document (422 with FastAPI's detail shape)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    unknown = set(body) - _ALLOWED
    if unknown:
        return f"Extra inputs are not permitted: {sorted(unknown)}"
    if not body.get("model") or not isinstance(body.get("document"), dict):
        return "Field required: model and document"
    from mistralai.client import models as sdk
    from pydantic import ValidationError

    try:
        sdk.OCRRequest.model_validate(body)
        for key in ("document_annotation_format", "bbox_annotation_format"):
            if body.get(key) is not None:
                sdk.ResponseFormat.model_validate(body[key])
                if body[key].get("type") != "json_schema":
                    return f"{key}: only json_schema is valid"
                sdk.JSONSchema.model_validate(body[key].get("json_schema"))
    except ValidationError as err:
        first = err.errors()[0]
        return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    if "document_annotation_prompt" in body and not body.get("document_annotation_format"):
        return "document_annotation_prompt needs document_annotation_format"
    doc = body["document"]
    if doc.get("type") == "document_url":
        if not str(doc.get("document_url", "")).startswith("data:application/pdf;base64,"):
            return "Document content must be a URL (starting with 'https') or base64 encoded document"
    elif doc.get("type") == "image_url":
        url = doc.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        if not str(url).startswith("data:image/"):
            return "Image content must be a URL or a base64 data URI"
    else:
        return f"unsupported document type {doc.get('type')!r}"
    return None
