"""The Batch API's files: input lines written from ranges, output and error lines read back.

An input line is `{"custom_id": "<range>-<attempt>-<part>", "body": <the /v1/ocr body>}`: the body is the very
one the synchronous path sends (providers/mistral_request.py), without `model`, which the job names once.
`custom_id` names the range, its attempt and the part (a range over the per-request limits is split into
parts, as synchronously), so a line from an earlier attempt is never taken for the current one.

Input files are packed so that no file exceeds the documented limits (requests per file, bytes per file) and the
lines of one range stay in one file.

An output line is `{"id": ..., "custom_id": ..., "response": {"status_code": 200, "body": <OCRResponse>},
"error": null}`; an error-file line carries the same custom_id with an `error` (or a non-200 response).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from models.errors import MalformedResponse

from ..documents.pdf_cache import OpenPdfCache
from ..http_api import error_message
from ..providers.base import AnnotationRequest, SourceDocument
from ..providers.mistral_request import RequestOptions, plan_parts, request_body

__all__ = ["InputLine", "OutputLine", "custom_id", "parse_custom_id", "range_lines", "line_annotation", "pack", "read_lines"]


@dataclass(frozen=True)
class InputLine:
    range_id: int
    attempt: int
    part: int
    pages: list[int]  # original page at each position of the part's document
    data: bytes  # the JSON line, newline included

    @property
    def custom_id(self) -> str:
        return custom_id(self.range_id, self.attempt, self.part)


def custom_id(range_id: int, attempt: int, part: int) -> str:
    return f"{range_id}-{attempt}-{part}"


def parse_custom_id(value: object) -> tuple[int, int, int] | None:
    """(range, attempt, part), or None when it is not one of ours."""
    if not isinstance(value, str):
        return None
    bits = value.split("-")
    if len(bits) != 3 or not all(b.isdigit() for b in bits):
        return None
    return int(bits[0]), int(bits[1]), int(bits[2])


def range_lines(
    source: SourceDocument, range_id: int, attempt: int, pages: Sequence[int], options: RequestOptions,
    max_request_bytes: int, max_request_pages: int, pdfs: OpenPdfCache | None = None,
    annotation: AnnotationRequest | None = None,
) -> list[InputLine]:
    """The input lines of one range (InputError when its pages cannot be sent, as synchronously). `annotation`
    goes in the bodies as in the synchronous request: the document schema only when the range is one request."""
    lines = []
    parts = plan_parts(source, pages, max_request_bytes, max_request_pages, pdfs)
    annotation = line_annotation(annotation, len(parts))
    for n, part in enumerate(parts):
        body = request_body(part, options, annotation)
        body.pop("model", None)  # given once, when the job is created
        line = {"custom_id": custom_id(range_id, attempt, n), "body": body}
        lines.append(InputLine(range_id, attempt, n, list(part.pages),
                               json.dumps(line, separators=(",", ":")).encode() + b"\n"))
    return lines


def line_annotation(annotation: AnnotationRequest | None, n_parts: int) -> AnnotationRequest | None:
    """What a range's lines ask to be annotated: one document, one annotation, so a range sent as several
    requests gets no document schema (its fields are extracted from the stored markdown, as synchronously)."""
    if annotation is not None and annotation.schema is not None and n_parts > 1:
        annotation = replace(annotation, schema=None)
    if annotation is not None and annotation.schema is None and annotation.image_schema is None:
        return None
    return annotation


def pack(ranges: Sequence[Sequence[InputLine]], max_requests: int, max_bytes: int) -> list[list[InputLine]]:
    """Ranges' lines in files of at most `max_requests` lines and `max_bytes` bytes, a range's lines together
    (a single range over the limits gets a file of its own)."""
    files: list[list[InputLine]] = []
    current: list[InputLine] = []
    size = 0
    for lines in ranges:
        extra = sum(len(line.data) for line in lines)
        if current and (len(current) + len(lines) > max_requests or size + extra > max_bytes):
            files.append(current)
            current, size = [], 0
        current.extend(lines)
        size += extra
    if current:
        files.append(current)
    return files


@dataclass(frozen=True)
class OutputLine:
    custom_id: object  # as it came: parse_custom_id tells whether it is ours
    body: bytes | None  # the OCRResponse, as JSON bytes, when the request succeeded
    error: str | None  # otherwise, the provider's words


def _error_text(raw: Any) -> str:
    if isinstance(raw, Mapping):
        return error_message(json.dumps(raw).encode())
    return str(raw)[:500]


def _one(raw: bytes) -> OutputLine:
    try:
        data = json.loads(raw)
    except ValueError:
        raise MalformedResponse(f"a batch output line is not JSON ({len(raw)} bytes)") from None
    if not isinstance(data, Mapping) or "custom_id" not in data:
        raise MalformedResponse("a batch output line has no custom_id")
    response, error = data.get("response"), data.get("error")
    if error:
        return OutputLine(data["custom_id"], None, _error_text(error))
    if not isinstance(response, Mapping):
        return OutputLine(data["custom_id"], None, "the line has neither a response nor an error")
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        return OutputLine(data["custom_id"], None, f"HTTP {status}: {_error_text(body)}")
    if not isinstance(body, Mapping):
        return OutputLine(data["custom_id"], None, "the line's response body is not an OCRResponse object")
    return OutputLine(data["custom_id"], json.dumps(body).encode(), None)


def read_lines(content: bytes) -> Iterator[OutputLine | MalformedResponse]:
    """Each line of an output or error file, or the MalformedResponse that says why it could not be read (the
    caller logs it and goes on: one bad line never loses the rest)."""
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            yield _one(raw)
        except MalformedResponse as err:
            yield err
