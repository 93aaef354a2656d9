"""The Mistral provider with an annotation asked: the documented request fields (checked with the SDK's
models), one annotation per document, a refused schema, and the fields row the answer becomes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from mistralai.client.models import OCRRequest, OCRResponse

from scheduler.samples import make_born_digital_pdf
from tests.fakes.mistral_server import MistralServer
from worker.extraction.annotation import fields_row
from worker.providers.base import AnnotationRequest, SourceDocument
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions

KEY = "sk-annot-21"
SCHEMA = {"type": "object", "properties": {"invoice_number": {"type": "string"}, "total": {"type": "number"}},
          "required": ["invoice_number", "total"], "additionalProperties": False}
FIGURE = {"type": "object", "properties": {"kind": {"type": ["string", "null"]}}, "required": ["kind"]}
ASK = AnnotationRequest(schema_name="invoice", schema_sha256="c" * 64, schema=SCHEMA, prompt="Amounts in EUR.",
                        image_schema_name="figure", image_schema=FIGURE)


@pytest.fixture
def server() -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY, images_per_page=1) as srv:
        yield srv


def _source(tmp_path: Path, pages: int = 2) -> SourceDocument:
    texts = ["Invoice number: INV-5\n\nTotal: 40.25"] + [f"Terms, page {i}" for i in range(1, pages)]
    path = make_born_digital_pdf(tmp_path / "inv.pdf", texts)
    return SourceDocument(path, "application/pdf", "pdf", pages, annotation=ASK)


def _provider(server: MistralServer, **kw: object) -> MistralProvider:
    return MistralProvider(RequestOptions(model="mistral-ocr-latest"), api_key=KEY, base_url=server.url,
                           timeout_s=10, **kw)  # type: ignore[arg-type]


def test_one_request_carries_the_documented_annotation_fields(tmp_path: Path, server: MistralServer) -> None:
    provider = _provider(server)
    result = provider.ocr(_source(tmp_path), [0, 1])
    provider.close()
    [sent] = server.received
    assert sent.body is not None
    request = OCRRequest.model_validate(sent.body)
    assert request.document_annotation_format is not None
    assert request.document_annotation_format.json_schema.schema_definition == SCHEMA  # type: ignore[union-attr]
    assert sent.body["document_annotation_format"] == {
        "type": "json_schema", "json_schema": {"name": "invoice", "schema": SCHEMA, "strict": True}}
    assert sent.body["document_annotation_prompt"] == "Amounts in EUR."
    assert sent.body["bbox_annotation_format"]["json_schema"]["name"] == "figure"
    assert result.annotated and result.annotation_error is None
    assert json.loads(result.document_annotation or "") == {"invoice_number": "INV-5", "total": 40.25}
    assert all(im.annotation == json.dumps({"kind": None}) for p in result.pages for im in p.images)

    row = fields_row(7, ASK, result)
    assert row is not None
    assert (row["status"], row["source"], row["data"]) == ("done", "annotation",
                                                           {"invoice_number": "INV-5", "total": 40.25})


def test_without_annotation_nothing_of_it_is_sent(tmp_path: Path, server: MistralServer) -> None:
    provider = _provider(server)
    result = provider.ocr(replace(_source(tmp_path), annotation=None), [0, 1])
    provider.close()
    [sent] = server.received
    assert sent.body is not None
    assert not {"document_annotation_format", "document_annotation_prompt", "bbox_annotation_format"} & set(sent.body)
    assert not result.annotated and result.document_annotation is None


def test_a_document_that_needs_several_requests_gets_no_document_annotation(
    tmp_path: Path, server: MistralServer
) -> None:
    provider = _provider(server, max_request_pages=1)  # two pages: two requests
    result = provider.ocr(_source(tmp_path), [0, 1])
    provider.close()
    assert len(server.received) == 2
    for rec in server.received:
        assert rec.body is not None
        assert "document_annotation_format" not in rec.body and "document_annotation_prompt" not in rec.body
        assert "bbox_annotation_format" in rec.body  # image annotations are per image: every request
    assert result.document_annotation is None
    assert "needed 2 OCR requests" in (result.annotation_error or "")
    row = fields_row(7, ASK, result)
    assert row is not None and row["status"] == "pending" and "needed 2 OCR requests" in row["error"]


def test_a_refused_schema_is_ocrd_once_more_without_it(tmp_path: Path, server: MistralServer) -> None:
    server.annotation_mode = "reject"
    provider = _provider(server)
    result = provider.ocr(_source(tmp_path), [0, 1])
    provider.close()
    assert server.statuses() == [400, 200]
    retry = server.received[1].body
    assert retry is not None and "document_annotation_format" not in retry and "bbox_annotation_format" not in retry
    assert [p.index for p in result.pages] == [0, 1]
    assert result.usage.pages_processed == 2  # only the answered request is billed
    assert not result.annotated
    assert "refused the annotation schema" in (result.annotation_error or "")
    assert "nullable" in (result.annotation_error or "")


@pytest.mark.parametrize(("mode", "expected"), [
    ("not_json", "not JSON"), ("double", "encoded twice"), ("breaks", "does not match the schema"),
    ("empty", "the annotation is empty"),
])
def test_an_annotation_that_does_not_validate_is_never_stored_as_fields(
    tmp_path: Path, server: MistralServer, mode: str, expected: str
) -> None:
    server.annotation_mode = mode
    provider = _provider(server)
    result = provider.ocr(_source(tmp_path), [0, 1])
    provider.close()
    OCRResponse.model_validate({"pages": [], "model": "m", "usage_info": {"pages_processed": 0},
                                "document_annotation": result.document_annotation})
    row = fields_row(7, ASK, result)
    assert row is not None
    assert row["status"] == "pending" and row["data"] is None and expected in row["error"]
