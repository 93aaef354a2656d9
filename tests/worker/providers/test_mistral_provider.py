"""The Mistral provider against a real loopback server: request shape, page mapping, images, errors."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from mistralai.client.models import OCRRequest, OCRResponse
from pydantic import SecretStr

from models.errors import (
    MalformedResponse,
    OversizedInput,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from scheduler.samples import make_born_digital_pdf, make_image, make_tiff, page_text
from tests.fakes.mistral_server import ERROR_BODIES, Fault, MistralServer
from worker.objects.folder import FolderStore
from worker.providers._mistral_errors import error_message, parse_retry_after
from worker.providers.base import SourceDocument
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions
from worker.providers.mistral_response import decode_image
from worker.ranges.persist import prepare_images
from worker.settings import WorkerSettings

KEY = "sk-unit-7f3a9b"


@pytest.fixture
def server() -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY, images_per_page=1) as srv:
        yield srv


def _provider(server: MistralServer, **kw: object) -> MistralProvider:
    opts = kw.pop("options", RequestOptions(model="mistral-ocr-latest"))
    return MistralProvider(opts, api_key=KEY, base_url=server.url, timeout_s=kw.pop("timeout_s", 5.0), **kw)  # type: ignore[arg-type]


def _pdf(tmp_path: Path, n: int, first: int = 0) -> SourceDocument:
    path = make_born_digital_pdf(tmp_path / "doc.pdf", [page_text(first + i) for i in range(n)])
    return SourceDocument(path, "application/pdf", "pdf", n)


def _sdk_checks(server: MistralServer) -> None:
    """Every request validates against the SDK's request model and sends no field the API does not know."""
    allowed = {f.alias or name for name, f in OCRRequest.model_fields.items()}
    for rec in server.received:
        assert rec.body is not None
        OCRRequest.model_validate(rec.body)
        assert set(rec.body) <= allowed
        assert "include_blocks" not in rec.body and "id" not in rec.body and "pages" not in rec.body


def test_only_the_ranges_pages_are_sent_and_mapped_back(tmp_path: Path, server: MistralServer) -> None:
    source = _pdf(tmp_path, 10)
    result = _provider(server).ocr(source, [2, 5, 6])

    assert [p.index for p in result.pages] == [2, 5, 6]
    for page in result.pages:
        assert page_text(page.index)[:40] in page.markdown
        assert page.width and page.height and page.dpi == 200
    [req] = server.received
    assert req.pages == 3  # the sent PDF held three pages, not ten
    assert req.body["document"]["document_url"].startswith("data:application/pdf;base64,")
    assert result.billed and result.usage.pages_processed == 3 and result.usage.doc_size_bytes
    assert result.model == "mistral-ocr-2512"
    _sdk_checks(server)


def test_ranges_over_the_page_or_size_limit_are_split(tmp_path: Path, server: MistralServer) -> None:
    source = _pdf(tmp_path, 7)
    result = _provider(server, max_request_pages=3).ocr(source, list(range(7)))
    assert [p.index for p in result.pages] == list(range(7))
    assert [r.pages for r in server.received] == [3, 3, 1]
    assert result.usage.pages_processed == 7

    server.received.clear()
    one_page = len(base64.b64decode(
        _provider(server).ocr(source, [0]) and server.received[-1].body["document"]["document_url"].split(",")[1]))
    server.received.clear()
    result = _provider(server, max_request_bytes=int(one_page * 2.5)).ocr(source, list(range(7)))
    assert [p.index for p in result.pages] == list(range(7))
    assert len(server.received) >= 3
    for rec in server.received:
        assert len(base64.b64decode(rec.body["document"]["document_url"].split(",")[1])) <= one_page * 2.5
    with pytest.raises(OversizedInput, match="alone is"):
        _provider(server, max_request_bytes=100).ocr(source, [0])


def test_request_options_map_to_documented_fields(tmp_path: Path, server: MistralServer) -> None:
    opts = RequestOptions(model="mistral-ocr-2512", include_image_base64=False, table_format="html",
                          extract_header=True, extract_footer=True, image_limit=4, image_min_size=50)
    _provider(server, options=opts).ocr(_pdf(tmp_path, 1), [0])
    body = server.received[0].body
    assert body["model"] == "mistral-ocr-2512" and body["table_format"] == "html"
    assert body["extract_header"] is body["extract_footer"] is True
    assert body["image_limit"] == 4 and body["image_min_size"] == 50 and body["include_image_base64"] is False
    _sdk_checks(server)


def test_images_are_sent_as_image_url_data_uris(tmp_path: Path, server: MistralServer) -> None:
    png = make_image(tmp_path / "p.png", "hello", "PNG", dpi=72)
    result = _provider(server).ocr(SourceDocument(png, "image/png", "image", 1), [0])
    body = server.received[0].body
    assert body["document"] == {"type": "image_url",
                                "image_url": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()}
    assert [p.index for p in result.pages] == [0] and "image of" in result.pages[0].markdown

    tiff = make_tiff(tmp_path / "f.tiff", ["one", "two", "three"], dpi=72)
    result = _provider(server).ocr(SourceDocument(tiff, "image/tiff", "image", 3), [1, 2])
    assert [p.index for p in result.pages] == [1, 2]
    assert server.received[-1].body["document"]["type"] == "document_url"  # frames travel as a small PDF
    _sdk_checks(server)


def test_returned_images_are_decoded_from_data_uris_and_bare_base64(tmp_path: Path) -> None:
    for bare in (False, True):
        with MistralServer(api_key=KEY, images_per_page=2, bare_base64=bare) as srv:
            result = _provider(srv).ocr(_pdf(tmp_path, 2), [0, 1])
        for page in result.pages:
            assert [im.data[:8] for im in page.images] == [b"\x89PNG\r\n\x1a\n"] * 2
            assert page.images[0].bottom_right_x is not None
    assert decode_image("data:image/jpeg;base64,/9j/4AAQ") == base64.b64decode("/9j/4AAQ")
    assert decode_image("iVBORw0KGgo") == base64.b64decode("iVBORw0KGgo=")
    assert decode_image("not base64 at all!") is None and decode_image(None) is None


def test_accepted_responses_parse_with_the_sdk_model(tmp_path: Path, server: MistralServer) -> None:
    source = _pdf(tmp_path, 2)
    body = json.dumps({"model": "m", "document": {"type": "document_url", "document_url":
                       "data:application/pdf;base64," + base64.b64encode(source.path.read_bytes()).decode()},
                       "include_image_base64": True}).encode()
    answer = httpx.post(server.url + "/v1/ocr", content=body, headers={"Authorization": f"Bearer {KEY}"})
    parsed = OCRResponse.model_validate_json(answer.content)
    assert [p.index for p in parsed.pages] == [0, 1] and parsed.usage_info.pages_processed == 2


@pytest.mark.parametrize("shape,expected", [
    ("documented", "Document is not a valid PDF. (invalid_request_error)"),
    ("fastapi", "document: Document is not a valid PDF."),
    ("fastapi_str", "Document is not a valid PDF."),
    ("bare", "Document is not a valid PDF."),
])
@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_carry_the_servers_message(
    tmp_path: Path, server: MistralServer, shape: str, expected: str, status: int
) -> None:
    server.inject(Fault(status, ERROR_BODIES[shape]("Document is not a valid PDF.")))
    with pytest.raises(ProviderRejected) as err:
        _provider(server).ocr(_pdf(tmp_path, 1), [0])
    assert str(err.value) == f"HTTP {status} from the OCR server: {expected}"
    assert not err.value.retryable


@pytest.mark.parametrize("status,shape", [(401, "fastapi_str"), (401, "bare"), (403, "documented")])
def test_auth_errors_say_check_the_key_and_never_show_it(
    tmp_path: Path, server: MistralServer, status: int, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject(Fault(status, ERROR_BODIES[shape](f"Invalid API key {KEY}")))
    with pytest.raises(ProviderAuthError, match="check MISTRAL_API_KEY") as err:
        _provider(server).ocr(_pdf(tmp_path, 1), [0])
    assert KEY not in str(err.value) and KEY not in repr(err.value)
    assert KEY not in caplog.text


def test_the_key_is_absent_from_reprs_and_settings(monkeypatch: pytest.MonkeyPatch, server: MistralServer) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    settings = WorkerSettings(provider="mistral", ocr_base_url=server.url)
    assert settings.api_key == SecretStr(KEY)
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    provider = MistralProvider.from_settings(settings)
    assert KEY not in repr(provider) and KEY not in repr(vars(provider))
    provider.close()


def test_a_missing_key_for_the_official_api_fails_before_sending(tmp_path: Path) -> None:
    sent: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        # a test never reaches beyond 127.0.0.1: if the guard broke, the request ends here, recorded
        sent.append(request)
        raise httpx.ConnectError("this test sends nothing", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    provider = MistralProvider(RequestOptions(model="m"), api_key=None, base_url="https://api.mistral.ai/v1",
                               client=client)
    with pytest.raises(ProviderAuthError, match="check MISTRAL_API_KEY"):
        provider.ocr(_pdf(tmp_path, 1), [0])
    assert sent == []
    client.close()


@pytest.mark.parametrize("fault,error,retry_after", [
    (Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "7"}), RateLimited, 7.0),
    (Fault(429, ERROR_BODIES["bare"]("Requests rate limit exceeded")), RateLimited, None),
    (Fault(503, b"<html>Service Unavailable</html>", {"Retry-After": "3"}), ProviderUnavailable, 3.0),
    (Fault(500, ERROR_BODIES["documented"]("oops")), ProviderUnavailable, None),
    (Fault(502), ProviderUnavailable, None),
    (Fault(504), ProviderUnavailable, None),
    (Fault(200, b'{"pages": [{"index": 0'), MalformedResponse, None),
    (Fault(200, b'{"pages": [{"index": 5, "markdown": "x", "images": [], "dimensions": null}], '
                b'"model": "m", "usage_info": {"pages_processed": 1}}'), MalformedResponse, None),
])
def test_retryable_failures(tmp_path: Path, server: MistralServer, fault: Fault, error: type,
                            retry_after: float | None) -> None:
    server.inject(fault)
    with pytest.raises(error) as err:
        _provider(server).ocr(_pdf(tmp_path, 1), [0])
    assert err.value.retryable
    assert getattr(err.value, "retry_after_s", None) == retry_after


def test_slow_answers_time_out_and_dead_servers_are_unavailable(tmp_path: Path, server: MistralServer) -> None:
    server.inject(Fault(200, None, delay_s=2.0))
    with pytest.raises(ProviderUnavailable, match="did not answer within 0.5 s"):
        _provider(server, timeout_s=0.5).ocr(_pdf(tmp_path, 1), [0])
    dead = MistralProvider(RequestOptions(model="m"), api_key=KEY, base_url="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(ProviderUnavailable, match="could not reach"):
        dead.ocr(_pdf(tmp_path, 1), [0])


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after": formatdate(1_000_030, usegmt=True)}, now=1_000_000) == 30.0
    assert parse_retry_after({"retry-after": formatdate(999_000, usegmt=True)}, now=1_000_000) == 0.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None
    assert error_message(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"


def test_a_429_sets_the_shared_cooldown(tmp_path: Path, server: MistralServer, data_dir: Path) -> None:
    from models.db import Database
    from models.settings import DatabaseSettings
    from worker.ratelimit.limiter import build_limiter

    Database.from_settings(DatabaseSettings(data_dir=data_dir)).migrate()
    limiter = build_limiter(WorkerSettings(), name="ocr-test", rate_per_s=100, max_inflight=2)
    server.inject(Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "60"}))
    provider = _provider(server, limiter=limiter)
    with pytest.raises(RateLimited):
        provider.ocr(_pdf(tmp_path, 1), [0])
    # any other worker sharing the limiter now waits instead of sending
    other = build_limiter(WorkerSettings(), name="ocr-test", rate_per_s=100, max_inflight=2, max_wait_s=1)
    with pytest.raises(RateLimited, match="slow down") as err:
        other.acquire()
    assert 55 < (err.value.retry_after_s or 0) <= 60
    assert len(server.received) == 1
    provider.close()
    other.close()


def test_hostile_image_ids_are_only_used_to_find_placeholders(tmp_path: Path) -> None:
    hostile = ["../../../../outside.png", "/etc/passwd", "img-0.png](javascript:alert(1))"]
    with MistralServer(api_key=KEY, images_per_page=3, image_ids=hostile) as srv:
        result = _provider(srv).ocr(_pdf(tmp_path, 1), [0])
    store = FolderStore(tmp_path / "objects")
    markdown, prepared = prepare_images(store, result.pages[0])
    assert [p.name for p in prepared] == ["img-0-0.png", "img-0-1.png", "img-0-2.png"]
    for p in prepared:
        assert (store.root / p.relpath).resolve().is_relative_to(store.root / "images")
        assert f"![{p.name}]({p.name})" in markdown
    assert not (tmp_path / "outside.png").exists() and not list(tmp_path.parent.glob("outside.png"))
    assert "../" not in markdown and "/etc/passwd" not in markdown
