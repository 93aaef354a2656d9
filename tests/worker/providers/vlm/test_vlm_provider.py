"""The VLM provider against a loopback chat-completions fake answering in each profile's real format, with
every failure the issue names: cut off, looping, rotated, empty, refusal, wrong format, hostile markup, 429 with
Retry-After, 5xx and a hung connection."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from models.errors import ConfigError, ProviderAuthError, ProviderUnavailable, RateLimited
from scheduler.samples import make_born_digital_pdf, make_scanned_pdf, page_text
from tests.fakes.vlm_server import PARAGRAPH, Fault, VlmServer
from worker.providers.base import SourceDocument
from worker.providers.vlm.client import VlmClient
from worker.providers.vlm.profiles import PROFILES, choose_profile
from worker.providers.vlm.provider import FALLBACK_LOCAL, FALLBACK_TEXT_LAYER, VlmProvider

KEY = "sk-vlm-test"
MODELS = {"olmocr": "allenai/olmOCR-2-7B-1025-FP8", "dots": "rednote-hilab/dots.mocr",
          "deepseek": "deepseek-ai/DeepSeek-OCR", "markdown": "mistral-small-latest"}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> SourceDocument:
    path = make_scanned_pdf(tmp_path_factory.mktemp("vlm") / "scan.pdf", [page_text(i, 40) for i in range(3)],
                            dpi=100)
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=3)


@pytest.fixture(scope="module")
def born_digital(tmp_path_factory: pytest.TempPathFactory) -> SourceDocument:
    path = make_born_digital_pdf(tmp_path_factory.mktemp("vlm") / "digital.pdf", [page_text(7, 120)])
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=1)


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> SourceDocument:
    path = tmp_path_factory.mktemp("vlm") / "blank.pdf"
    Image.new("L", (850, 1100), 250).save(path, "PDF", resolution=100)
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=1)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[VlmServer]:
    profile = getattr(request, "param", "olmocr")
    with VlmServer(profile=profile, api_key=KEY, model=MODELS[profile]) as s:
        yield s


def provider(server: VlmServer, *, fallback: str = "auto", table_format: str | None = "html", url_form: str = "object",
             max_attempts: int = 4, timeout_s: float = 30.0, **kw: object) -> VlmProvider:
    client = VlmClient(server.url + "/v1", server.model, KEY, timeout_s=timeout_s, url_form=url_form)
    return VlmProvider(client, choose_profile(server.model), max_attempts=max_attempts, fallback=fallback,
                       table_format=table_format, **kw)  # type: ignore[arg-type]


def test_profiles_chosen_from_the_model_name() -> None:
    assert {name: choose_profile(model).name for name, model in MODELS.items()} == {n: n for n in MODELS}
    assert choose_profile("qwen2.5vl:7b", "dots").name == "dots"
    with pytest.raises(ConfigError, match="unknown profile"):
        choose_profile("x", "nope")


@pytest.mark.parametrize("server", ["olmocr", "dots", "deepseek", "markdown"], indirect=True)
def test_each_profile_reads_its_format(server: VlmServer, scanned: SourceDocument) -> None:
    p = provider(server)
    try:
        result = p.ocr(scanned, [0, 1, 2])
    finally:
        p.close()
    assert [pg.index for pg in result.pages] == [0, 1, 2]
    assert len(server.received) == 3 and all(r.status == 200 for r in server.received)
    profile = PROFILES[server.profile]
    for r in server.received:
        w, h = r.image_size  # type: ignore[misc]
        if profile.size.longest_side:
            assert max(w, h) == profile.size.longest_side
        else:
            assert abs(w - 850 * 200 / 100) <= 2  # 200 dpi of a 8.5 in page
        assert r.image_form == "object" and r.image_mime == "image/png"
    for page in result.pages:
        assert page.source == "vlm"
        assert page.markdown.startswith("# Annual report")
        assert PARAGRAPH in page.markdown
        assert "<!-- pagemill: vlm:" in page.markdown
        # the table came out of the markdown, its placeholder in its place
        assert len(page.tables) == 1 and page.tables[0].format == "html"
        assert "<td>Paper</td>" in page.tables[0].content and "[tbl-0.html](tbl-0.html)" in page.markdown
        if server.profile == "markdown":
            assert not page.images and page.blocks is None
            continue
        # the figure cut out of the page image where the model gave its box
        assert len(page.images) == 1 and "![img-0.png](img-0.png)" in page.markdown
        im = page.images[0]
        with Image.open(io.BytesIO(im.data or b"")) as cut:
            assert cut.size == (im.bottom_right_x - im.top_left_x, im.bottom_right_y - im.top_left_y)  # type: ignore[operator]
        assert (page.width, page.height) == server.received[0].image_size
        if server.profile == "olmocr":
            assert "language en" in page.markdown and page.blocks is None
        else:
            kinds = [b.type for b in page.blocks or []]
            assert kinds[:4] == ["title", "text", "table", "image"]
            table = next(b for b in page.blocks or [] if b.type == "table")
            assert table.table_id == "tbl-0.html" and table.top_left_x is not None
            assert all(0 <= (b.bottom_right_x or 0) <= page.width for b in page.blocks or [])  # type: ignore[operator]
    assert result.billed and result.usage.pages_processed == 3
    prompt = sum(r.image_size[0] // 28 * (r.image_size[1] // 28) for r in server.received)  # type: ignore[index]
    assert result.usage.prompt_tokens == prompt and (result.usage.completion_tokens or 0) > 0


def test_string_image_url_and_chunked_content(server: VlmServer, scanned: SourceDocument) -> None:
    server.script("chunks")
    p = provider(server, url_form="string")
    try:
        result = p.ocr(scanned, [0])
    finally:
        p.close()
    assert server.received[0].image_form == "string"
    assert PARAGRAPH in result.pages[0].markdown


def test_blank_page_is_never_sent(server: VlmServer, blank: SourceDocument) -> None:
    p = provider(server)
    try:
        result = p.ocr(blank, [0])
    finally:
        p.close()
    assert server.received == []
    page = result.pages[0]
    assert "blank page: not sent" in page.markdown and page.source == "vlm"
    assert result.usage.pages_processed == 0 and result.usage.prompt_tokens == 0


@pytest.mark.parametrize("bad", ["cut_off", "loop", "empty", "refusal", "wrong_format"])
def test_bad_answer_is_asked_again_hotter(server: VlmServer, scanned: SourceDocument, bad: str) -> None:
    server.script(bad, bad)
    p = provider(server)
    try:
        result = p.ocr(scanned, [1])
    finally:
        p.close()
    temps = [r.temperature for r in server.received]
    assert temps == [0.1, 0.1, 0.2]  # olmOCR's schedule
    page = result.pages[0]
    assert page.source == "vlm" and PARAGRAPH in page.markdown
    reason = {"loop": "repetition"}.get(bad, bad)
    assert page.markdown.count(f": {reason}") == 2, page.markdown
    assert result.usage.pages_processed == 1


def test_rotated_page_is_turned_and_sent_again(server: VlmServer, scanned: SourceDocument) -> None:
    server.script("rotated")
    p = provider(server)
    try:
        result = p.ocr(scanned, [0])
    finally:
        p.close()
    first, second = (r.image_size for r in server.received)
    assert second == (first[1], first[0])  # type: ignore[index]
    page = result.pages[0]
    assert "turned 90 degrees" in page.markdown and (page.width, page.height) == second


def test_hostile_markup_is_kept_inert(server: VlmServer, scanned: SourceDocument) -> None:
    server.script("hostile")
    p = provider(server)
    try:
        page = p.ocr(scanned, [0]).pages[0]
    finally:
        p.close()
    assert "<script>" not in page.markdown and "&lt;script&gt;" in page.markdown
    assert "onerror" not in page.markdown.split("<!--")[0].replace("&lt;img src=x onerror=", "")
    assert "markup made inert" in page.markdown


def test_exhausted_page_falls_back_to_the_text_layer(server: VlmServer, born_digital: SourceDocument) -> None:
    server.script(*["loop"] * 4)
    p = provider(server)
    try:
        result = p.ocr(born_digital, [0])
    finally:
        p.close()
    assert len(server.received) == 4
    page = result.pages[0]
    assert page.source == FALLBACK_TEXT_LAYER
    assert page_text(7, 120).split()[3] in page.markdown
    assert "fell back after 4 request(s)" in page.markdown and "repetition" in page.markdown
    assert page.confidence is not None and page.confidence.average == 0.0  # first in `pagemill review`


def test_exhausted_scan_falls_back_to_the_local_engine(server: VlmServer, scanned: SourceDocument) -> None:
    from worker.providers.tesseract import TesseractProvider

    server.script(*["refusal"] * 2)
    p = provider(server, max_attempts=2, local=TesseractProvider)
    try:
        page = p.ocr(scanned, [2]).pages[0]
    finally:
        p.close()
    assert page.source == FALLBACK_LOCAL
    assert page_text(2, 40).split()[1] in page.markdown  # the local engine read the scan
    assert "fell back" in page.markdown and "refusal" in page.markdown


def test_no_fallback_is_a_typed_error(server: VlmServer, scanned: SourceDocument) -> None:
    server.script(*["empty"] * 2)
    p = provider(server, fallback="none", max_attempts=2)
    with pytest.raises(Exception) as info:
        p.ocr(scanned, [0])
    p.close()
    assert getattr(info.value, "reason", None) == "empty" and info.value.code == "malformed"  # type: ignore[attr-defined]


def test_429_keeps_answered_pages_and_honours_retry_after(server: VlmServer, scanned: SourceDocument) -> None:
    server.inject(Fault(429, body={"message": "slow down"}, headers={"Retry-After": "7"}))
    p = provider(server, max_inflight=1)
    with pytest.raises(RateLimited) as info:
        p.ocr(scanned, [0, 1, 2])
    p.close()
    assert info.value.retry_after_s == 7
    partial = info.value.partial
    assert partial is not None and [pg.index for pg in partial.pages] == [1, 2]  # type: ignore[attr-defined]
    assert info.value.sent


def test_5xx_and_hung_connection_are_retryable(server: VlmServer, scanned: SourceDocument) -> None:
    server.inject(Fault(503))
    p = provider(server)
    with pytest.raises(ProviderUnavailable, match="503"):
        p.ocr(scanned, [0])
    p.close()
    server.inject(Fault(200, delay_s=2.0))
    p = provider(server, timeout_s=0.5)
    with pytest.raises(ProviderUnavailable, match="did not answer"):
        p.ocr(scanned, [0])
    p.close()


def test_wrong_key_stops(server: VlmServer, scanned: SourceDocument) -> None:
    client = VlmClient(server.url, server.model, "sk-wrong")
    p = VlmProvider(client, choose_profile(server.model))
    with pytest.raises(ProviderAuthError, match="PAGEMILL_VLM_API_KEY") as info:
        p.ocr(scanned, [0])
    p.close()
    assert "sk-wrong" not in str(info.value)


def test_pages_go_concurrently(scanned: SourceDocument) -> None:
    with VlmServer(profile="markdown", api_key=KEY, model="m", delay_s=0.4) as server:
        p = provider(server, max_inflight=3)
        try:
            import time

            started = time.monotonic()
            p.ocr(scanned, [0, 1, 2])
            elapsed = time.monotonic() - started
        finally:
            p.close()
    assert elapsed < 1.0, elapsed  # three 0.4 s pages at once, not one after another


def test_image_document(server: VlmServer, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (1000, 1400), "white").save(path)
    im = Image.open(path)
    from PIL import ImageDraw

    ImageDraw.Draw(im).rectangle((100, 100, 900, 600), fill="black")
    im.save(path)
    p = provider(server)
    try:
        result = p.ocr(SourceDocument(path=path, mime_type="image/png", kind="image", page_count=1), [0])
    finally:
        p.close()
    assert max(server.received[0].image_size) == 1288  # type: ignore[arg-type]
    assert result.pages[0].source == "vlm"


@pytest.mark.parametrize("server", ["olmocr", "dots", "deepseek"], indirect=True)
def test_each_family_is_sent_its_upstream_prompt_in_its_order(server: VlmServer, scanned: SourceDocument) -> None:
    """The fine-tuned models were trained on one prompt; a paraphrase reads worse. What goes on the wire is the
    upstream text (olmocr prompts.py, dots_ocr prompts.py, DeepSeek-OCR config.py), in the family's part order."""
    p = provider(server)
    try:
        p.ocr(scanned, [0])
    finally:
        p.close()
    parts = server.received[0].body["messages"][-1]["content"]  # type: ignore[index]
    kinds = [part["type"] for part in parts]
    text = next(part["text"] for part in parts if part["type"] == "text")
    expected = {
        "olmocr": (["text", "image_url"], "Attached is one page of a document that you must process. Just return "
                   "the plain text representation of this document as if you were reading it naturally. Convert "
                   "equations to LateX and tables to HTML.\n"),
        "dots": (["image_url", "text"], "Please output the layout information from the PDF image, including each "
                 "layout element's bbox, its category, and the corresponding text content within the bbox.\n\n"),
        "deepseek": (["image_url", "text"], "<|grounding|>Convert the document to markdown."),
    }[server.profile]
    assert kinds == expected[0]
    assert text.startswith(expected[1])
    if server.profile == "dots":
        assert text.endswith("5. Final Output: The entire output must be a single JSON object.\n")
    if server.profile == "olmocr":
        assert text.endswith("primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram "
                             "parameters.")
    body = server.received[0].body
    if server.profile == "deepseek":
        # vLLM strips special tokens unless told not to, and the grounding tags are special tokens: without this
        # every DeepSeek page would read as the wrong format and fall back
        assert body["skip_special_tokens"] is False  # type: ignore[index]
        assert body["vllm_xargs"]["ngram_size"] == 30  # type: ignore[index]
    else:
        assert "skip_special_tokens" not in body  # type: ignore[operator]
