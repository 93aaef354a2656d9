"""`pagemill serve` speaks the Mistral OCR contract: checked with the official SDK against a real server."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mistralai.client import Mistral
from mistralai.client import errors as sdk_errors
from mistralai.client.models import OCRResponse

from scheduler.samples import SAMPLE_TEXTS, make_image, make_scanned_pdf
from tests.conftest import cer
from tests.worker.serve_harness import running_server

KEY = "serve-test-key"
PDF_TEXTS = SAMPLE_TEXTS[:3]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two OCR processes, a key, default limits (50 MB, 1000 pages), lenient about unknown fields."""
    with running_server(tmp_path_factory.mktemp("serve"), "--workers", "2", "--api-key", KEY) as base:
        yield base


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One OCR process, no queue, strict, and a 1 MB document limit so the limits are cheap to reach."""
    with running_server(tmp_path_factory.mktemp("serve-small"), "--workers", "1", "--max-queue", "0", "--strict",
                        env={"PAGEMILL_SERVE_MAX_DOCUMENT_BYTES": str(1024 * 1024)}) as base:
        yield base


@pytest.fixture(scope="module")
def scanned_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_scanned_pdf(tmp_path_factory.mktemp("pdf") / "letters.pdf", PDF_TEXTS, dpi=200).read_bytes()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def client(base: str, key: str = KEY) -> Mistral:
    return Mistral(api_key=key, server_url=base)


def post_ocr(base: str, body: dict[str, object], key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base}/v1/ocr", json=body, headers=headers, timeout=120)


def pdf_document(pdf: bytes) -> dict[str, str]:
    return {"type": "document_url", "document_url": data_uri(pdf, "application/pdf")}


# --- the official SDK -------------------------------------------------------------------------------------


def test_sdk_reads_every_page_of_a_scanned_pdf(server: str, scanned_pdf: bytes) -> None:
    resp = client(server).ocr.process(model="mistral-ocr-latest", document=pdf_document(scanned_pdf))
    assert [p.index for p in resp.pages] == [0, 1, 2]
    for page, text in zip(resp.pages, PDF_TEXTS, strict=True):
        assert cer(text, page.markdown) < 0.05, page.markdown
        assert page.images == []
        assert page.dimensions is not None and page.dimensions.width > 0 and page.dimensions.height > 0
    assert resp.usage_info.pages_processed == 3
    assert resp.usage_info.doc_size_bytes == len(scanned_pdf)
    assert resp.model


def test_sdk_pages_subset_keeps_original_page_numbers(server: str, scanned_pdf: bytes) -> None:
    mistral = client(server)
    by_string = mistral.ocr.process(model="mistral-ocr-latest", document=pdf_document(scanned_pdf), pages="1-2")
    assert [p.index for p in by_string.pages] == [1, 2]
    assert cer(PDF_TEXTS[1], by_string.pages[0].markdown) < 0.05
    by_list = mistral.ocr.process(model="mistral-ocr-latest", document=pdf_document(scanned_pdf), pages=[2, 0])
    assert [p.index for p in by_list.pages] == [0, 2]
    assert cer(PDF_TEXTS[2], by_list.pages[1].markdown) < 0.05
    assert by_list.usage_info.pages_processed == 2


def test_sdk_reads_an_image_given_as_string_or_object(server: str, tmp_path: Path) -> None:
    png = make_image(tmp_path / "note.png", SAMPLE_TEXTS[3], "PNG", dpi=200).read_bytes()
    uri = data_uri(png, "image/png")
    mistral = client(server)
    for document in ({"type": "image_url", "image_url": uri}, {"type": "image_url", "image_url": {"url": uri}}):
        resp = mistral.ocr.process(model="mistral-ocr-latest", document=document)
        assert len(resp.pages) == 1 and resp.pages[0].index == 0
        assert cer(SAMPLE_TEXTS[3], resp.pages[0].markdown) < 0.05, resp.pages[0].markdown
        assert resp.pages[0].dimensions is not None


def test_raw_response_parses_as_the_sdk_model(server: str, tmp_path: Path) -> None:
    jpeg = make_image(tmp_path / "receipt.jpg", SAMPLE_TEXTS[2], "JPEG", dpi=200).read_bytes()
    body = {"model": "mistral-ocr-latest", "document": {"type": "image_url", "image_url": data_uri(jpeg, "image/jpeg")},
            "include_blocks": True, "id": "ignored-unknown-field", "include_image_base64": True}
    raw = post_ocr(server, body)
    assert raw.status_code == 200, raw.text
    page = raw.json()["pages"][0]
    assert "images" in page and "dimensions" in page  # the SDK rejects pages without these keys
    parsed = OCRResponse.model_validate(raw.json())
    assert cer(SAMPLE_TEXTS[2], parsed.pages[0].markdown) < 0.05
    assert parsed.usage_info.doc_size_bytes == len(jpeg)


def _pdf_with_figure(path: Path) -> Path:
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    figure = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(figure).ellipse((20, 20, 280, 180), fill="red")
    figure.save(path.with_suffix(".png"))
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica", 14)
    c.drawString(72, 720, "Figure one shows a red ellipse.")
    c.drawImage(str(path.with_suffix(".png")), 72, 400, width=216, height=144)  # 3 x 2 inches
    c.showPage()
    c.save()
    return path


def test_embedded_figures_come_back_with_bbox_and_base64(server: str, tmp_path: Path) -> None:
    pdf = _pdf_with_figure(tmp_path / "figure.pdf").read_bytes()
    resp = client(server).ocr.process(model="mistral-ocr-latest", document=pdf_document(pdf),
                                      include_image_base64=True)
    page = resp.pages[0]
    assert "red ellipse" in page.markdown
    assert [im.id for im in page.images] == ["img-0.jpeg"]
    im = page.images[0]
    assert "![img-0.jpeg](img-0.jpeg)" in page.markdown
    dpi = page.dimensions.dpi
    # placed at x=72 pt, 3 inches wide; its top is 792-544 = 248 pt from the page top
    assert (im.top_left_x, im.bottom_right_x) == (dpi, 4 * dpi)
    assert abs(im.top_left_y - round(248 / 72 * dpi)) <= 1
    assert im.image_base64 and im.image_base64.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(im.image_base64.split(",", 1)[1])[:3] == b"\xff\xd8\xff"
    no_images = client(server).ocr.process(model="mistral-ocr-latest", document=pdf_document(pdf), image_limit=0)
    assert no_images.pages[0].images == [] and "img-0" not in no_images.pages[0].markdown


# --- files: upload, signed URL, OCR, delete -------------------------------------------------------------


def test_files_upload_signed_url_then_ocr(server: str, scanned_pdf: bytes) -> None:
    mistral = client(server)
    uploaded = mistral.files.upload(file={"file_name": "letters.pdf", "content": scanned_pdf}, purpose="ocr")
    assert uploaded.size_bytes == len(scanned_pdf) and uploaded.filename == "letters.pdf"
    assert mistral.files.retrieve(file_id=uploaded.id).id == uploaded.id
    url = mistral.files.get_signed_url(file_id=uploaded.id, expiry=1).url
    resp = mistral.ocr.process(model="mistral-ocr-latest", document={"type": "document_url", "document_url": url},
                               pages=[1])
    assert [p.index for p in resp.pages] == [1]
    assert cer(PDF_TEXTS[1], resp.pages[0].markdown) < 0.05
    by_id = mistral.ocr.process(model="mistral-ocr-latest", document={"type": "file", "file_id": uploaded.id},
                                pages="0")
    assert cer(PDF_TEXTS[0], by_id.pages[0].markdown) < 0.05

    assert mistral.files.delete(file_id=uploaded.id).deleted is True
    with pytest.raises(sdk_errors.SDKError) as gone:
        mistral.files.retrieve(file_id=uploaded.id)
    assert gone.value.status_code == 404
    again = post_ocr(server, {"model": "m", "document": {"type": "file", "file_id": uploaded.id}})
    assert again.status_code == 404 and again.json()["object"] == "error"


def test_a_file_url_naming_another_host_is_not_fetched(server: str, scanned_pdf: bytes) -> None:
    file_id = client(server).files.upload(file={"file_name": "a.pdf", "content": scanned_pdf}, purpose="ocr").id
    with _listening_socket() as (port, connections):
        url = f"http://127.0.0.1:{port}/v1/files/{file_id}/content"
        resp = post_ocr(server, {"model": "m", "document": {"type": "document_url", "document_url": url}})
    assert resp.status_code == 422
    assert "no outbound requests" in resp.json()["detail"][0]["msg"]
    assert connections == []


# --- errors, in the documented shapes -----------------------------------------------------------------


class _Accepts(threading.Thread):
    def __init__(self, sock: socket.socket, seen: list[object]) -> None:
        super().__init__(daemon=True)
        self.sock, self.seen = sock, seen

    def run(self) -> None:
        try:
            conn, _ = self.sock.accept()
            self.seen.append(conn)
        except OSError:
            pass


class _listening_socket:
    """A loopback port that records any connection made to it."""

    def __enter__(self) -> tuple[int, list[object]]:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(3)
        self.seen: list[object] = []
        self.thread = _Accepts(self.sock, self.seen)
        self.thread.start()
        return self.sock.getsockname()[1], self.seen

    def __exit__(self, *exc: object) -> None:
        self.thread.join(0.5)
        self.sock.close()


def test_https_and_other_remote_urls_get_a_clear_422_and_no_request(server: str) -> None:
    resp = post_ocr(server, {"model": "m", "document": {"type": "document_url",
                                                          "document_url": "https://example.com/a.pdf"}})
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail[0]["loc"] == ["body", "document", "document_url"]
    assert "no outbound requests" in detail[0]["msg"] and "data:application/pdf;base64" in detail[0]["msg"]
    with _listening_socket() as (port, connections):
        image = post_ocr(server, {"model": "m", "document": {"type": "image_url",
                                                               "image_url": {"url": f"http://127.0.0.1:{port}/a.png"}}})
    assert image.status_code == 422 and image.json()["detail"][0]["loc"][-1] == "url"
    assert connections == []
    with pytest.raises(sdk_errors.HTTPValidationError) as raised:
        client(server).ocr.process(model="m", document={"type": "document_url", "document_url": "https://x.test/a.pdf"})
    assert raised.value.status_code == 422


@pytest.mark.parametrize("body, where", [
    ({"model": "m"}, ["body", "document"]),
    ({"model": "m", "document": {"type": "base64_document", "data": "x"}}, ["body", "document"]),
    ({"model": "m", "document": {"type": "document_url", "document_url": "data:application/pdf;base64,JVBE"},
      "pages": "2-a"}, ["body", "pages"]),
])
def test_malformed_requests_get_422_with_detail(server: str, body: dict[str, object], where: list[str]) -> None:
    resp = post_ocr(server, body)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"][: len(where)] == where


def test_pages_past_the_end_get_422(server: str, scanned_pdf: bytes) -> None:
    resp = post_ocr(server, {"model": "m", "document": pdf_document(scanned_pdf), "pages": [0, 3]})
    assert resp.status_code == 422
    assert "3 page(s)" in resp.json()["detail"][0]["msg"]


def test_an_unreadable_document_gets_400_in_the_error_shape(server: str) -> None:
    for document in (
        {"type": "document_url", "document_url": data_uri(b"%PDF-1.7\nthis is not really a pdf", "application/pdf")},
        {"type": "image_url", "image_url": data_uri(b"hello, plain text", "image/png")},
    ):
        resp = post_ocr(server, {"model": "m", "document": document})
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert body["object"] == "error" and body["type"].startswith("document_parser_")
        assert body["message"] and body["code"]


def test_a_wrong_or_missing_key_gets_401(server: str, scanned_pdf: bytes) -> None:
    body = {"model": "m", "document": pdf_document(scanned_pdf)}
    for key in ("wrong", None):
        resp = post_ocr(server, body, key=key)
        assert resp.status_code == 401
        assert resp.json()["type"] == "authentication_error"
    with pytest.raises(sdk_errors.SDKError) as raised:
        client(server, key="wrong").files.upload(file={"file_name": "a.pdf", "content": scanned_pdf}, purpose="ocr")
    assert raised.value.status_code == 401


def test_a_document_over_1000_pages_is_refused(server: str, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(1001):
        pdf.new_page(612, 792).close()
    pdf.save(tmp_path / "long.pdf")
    pdf.close()
    resp = post_ocr(server, {"model": "m", "document": pdf_document((tmp_path / "long.pdf").read_bytes()), "pages": [0]})
    assert resp.status_code == 400
    assert resp.json()["object"] == "error" and "1000 pages" in resp.json()["message"]


def test_default_limits_are_the_real_apis() -> None:
    from worker.server import ServerSettings

    settings = ServerSettings()
    assert settings.max_document_bytes == 50 * 1024 * 1024 and settings.max_document_pages == 1000


def test_a_document_over_the_size_limit_gets_413(small_server: str, tmp_path: Path) -> None:
    noise = make_image(tmp_path / "big.png", " ".join(SAMPLE_TEXTS), "PNG", dpi=300).read_bytes()
    padded = noise + b"\0" * (1024 * 1024 + 1 - len(noise))  # decoded 1 MB + 1 byte: within the body limit
    resp = post_ocr(small_server, {"model": "m", "document": {"type": "image_url",
                                                               "image_url": data_uri(padded, "image/png")}}, key=None)
    assert resp.status_code == 413 and resp.json()["object"] == "error"
    huge = post_ocr(small_server, {"model": "m", "document": {"type": "image_url",
                                                               "image_url": data_uri(padded * 3, "image/png")}},
                    key=None)
    assert huge.status_code == 413 and "limit" in huge.json()["message"]


def test_strict_mode_refuses_unknown_fields_but_accepts_the_sdks(small_server: str, tmp_path: Path) -> None:
    png = make_image(tmp_path / "n.png", SAMPLE_TEXTS[0], "PNG", dpi=150).read_bytes()
    document = {"type": "image_url", "image_url": data_uri(png, "image/png")}
    resp = post_ocr(small_server, {"model": "m", "document": document, "id": "abc"}, key=None)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["type"] == "extra_forbidden" and resp.json()["detail"][0]["loc"] == ["body", "id"]
    sdk = Mistral(api_key="any", server_url=small_server).ocr.process(model="mistral-ocr-latest", document=document)
    assert cer(SAMPLE_TEXTS[0], sdk.pages[0].markdown) < 0.05


def test_requests_beyond_the_queue_get_429_with_retry_after(small_server: str, tmp_path: Path) -> None:
    long_pdf = make_scanned_pdf(tmp_path / "long.pdf", SAMPLE_TEXTS * 2, dpi=100).read_bytes()
    small = make_image(tmp_path / "s.png", "tiny", "PNG", dpi=72).read_bytes()
    first: list[httpx.Response] = []
    deadline = time.monotonic() + 180  # a server that always refuses, or never does, fails the test by then

    def long_request() -> None:  # retried until admitted: the small requests below may take the only place
        while (not first or first[-1].status_code == 429) and time.monotonic() < deadline:
            first.append(post_ocr(small_server, {"model": "m", "document": pdf_document(long_pdf)}, key=None))

    worker = threading.Thread(target=long_request, daemon=True)
    worker.start()
    refused: httpx.Response | None = None
    while worker.is_alive() and refused is None and time.monotonic() < deadline:
        resp = post_ocr(small_server, {"model": "m", "document": {"type": "image_url",
                                                                   "image_url": data_uri(small, "image/png")}},
                        key=None)
        if resp.status_code == 429:
            refused = resp
    worker.join(max(0.0, deadline - time.monotonic()) + 130)  # one more request of up to 120 s may be under way
    assert not worker.is_alive(), "the long request was still being sent 180 s on"
    assert first, "the long request was never sent"
    assert first[-1].status_code == 200 and len(first[-1].json()["pages"]) == 8, \
        f"the long request was not admitted within 180 s ({len(first)} tries, last HTTP {first[-1].status_code})"
    assert refused is not None, "no request was refused while the only OCR process was busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["object"] == "error" and refused.json()["type"] == "rate_limited"


def test_a_long_document_does_not_hold_up_a_one_page_request(server: str, tmp_path: Path) -> None:
    long_pdf = make_scanned_pdf(tmp_path / "long.pdf", [*SAMPLE_TEXTS, *SAMPLE_TEXTS], dpi=150).read_bytes()
    png = make_image(tmp_path / "one.png", SAMPLE_TEXTS[1], "PNG", dpi=150).read_bytes()
    finished: list[str] = []
    long_thread = threading.Thread(target=lambda: finished.append(
        "long" if post_ocr(server, {"model": "m", "document": pdf_document(long_pdf)}).status_code == 200 else "x"))
    long_thread.start()
    small = post_ocr(server, {"model": "m", "document": {"type": "image_url", "image_url": data_uri(png, "image/png")}})
    finished.append("small")
    long_thread.join()
    assert small.status_code == 200 and cer(SAMPLE_TEXTS[1], small.json()["pages"][0]["markdown"]) < 0.05
    assert finished == ["small", "long"]


def test_settings_come_from_the_environment_unless_given_on_the_command_line(tmp_path: Path) -> None:
    """PAGEMILL_SERVE_WORKERS and PAGEMILL_SERVE_STRICT apply when the options are not given; an option wins."""
    png = make_image(tmp_path / "n.png", SAMPLE_TEXTS[0], "PNG", dpi=150).read_bytes()
    body = {"model": "m", "document": {"type": "image_url", "image_url": data_uri(png, "image/png")}, "id": "abc"}
    env = {"PAGEMILL_SERVE_WORKERS": "1", "PAGEMILL_SERVE_STRICT": "true"}
    with running_server(tmp_path / "env", env=env) as base:
        assert post_ocr(base, body, key=None).status_code == 422  # strict, from the environment
    log = next((tmp_path / "env").glob("serve-*.log")).read_text()
    assert "with 1 OCR process(es)" in log
    with running_server(tmp_path / "cli", "--no-strict", env=env) as base:
        resp = post_ocr(base, body, key=None)
        assert resp.status_code == 200
        assert cer(SAMPLE_TEXTS[0], resp.json()["pages"][0]["markdown"]) < 0.05


def test_sdk_gets_the_local_engines_page_confidence_when_asked(server: str, scanned_pdf: bytes) -> None:
    resp = client(server).ocr.process(model="mistral-ocr-latest", document=pdf_document(scanned_pdf), pages="0-1",
                                      confidence_scores_granularity="page")
    for page in resp.pages:
        scores = page.confidence_scores
        assert 0.5 < scores.average_page_confidence_score <= 1.0  # clean scans: Tesseract is confident
        assert 0.0 <= scores.minimum_page_confidence_score <= scores.average_page_confidence_score
        assert page.tables == [] and page.header is None
    plain = client(server).ocr.process(model="mistral-ocr-latest", document=pdf_document(scanned_pdf), pages="0")
    assert plain.pages[0].confidence_scores is None  # not asked: not sent, as the API does
    bad = post_ocr(server, {"model": "x", "document": pdf_document(scanned_pdf), "pages": [0],
                            "confidence_scores_granularity": "letter"})
    assert bad.status_code == 422
