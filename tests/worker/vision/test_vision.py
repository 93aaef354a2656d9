"""The vision step against a real loopback /v1/chat/completions server that records what it was sent."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr, TypeAdapter, ValidationError

from models.db import Database
from models.errors import (
    OversizedInput,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from tests.fakes.vision_server import ERROR_BODIES, Fault, VisionServer
from worker.ratelimit.limiter import build_limiter
from worker.settings import WorkerSettings
from worker.vision.chat import content_text
from worker.vision.client import VisionClient
from worker.vision.describe import describe_prepared, prepare_for
from worker.vision.prepare import prepare_image
from worker.vision.settings import DEFAULT_PROMPT, DEFAULT_VISION_MODEL, VisionSettings

KEY = "sk-vision-7a2c9e41d0"
RETIRED = {"pixtral-12b-2409", "pixtral-large-2411", "mistral-small-2506", "mistral-medium-2508"}


def picture(size: tuple[int, int], colour: str = "red", fmt: str = "PNG", **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt, **save)
    return buf.getvalue()


@pytest.fixture
def server() -> Iterator[VisionServer]:
    with VisionServer(api_key=KEY) as srv:
        yield srv


def client_for(server: VisionServer, **kw: object) -> VisionClient:
    return VisionClient(server.url, kw.pop("model", "mistral-small-latest"), api_key=kw.pop("api_key", KEY),
                        timeout_s=5, **kw)  # type: ignore[arg-type]


def test_the_request_is_a_user_message_with_the_prompt_and_an_inline_data_uri(server: VisionServer) -> None:
    data = picture((64, 48), "red")
    desc = client_for(server).describe(prepare_image(data), "What is in this image?")

    assert desc.text == "A 64x48 picture, mostly red."
    assert (desc.model, desc.prompt_tokens, desc.completion_tokens, desc.total_tokens) == (
        "mistral-small-2603", 812, 14, 826)
    [req] = server.received
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body is not None and req.body["model"] == "mistral-small-latest"
    [message] = req.body["messages"]
    assert message["role"] == "user"
    text, image = message["content"]
    assert text == {"type": "text", "text": "What is in this image?"}
    # the object form, with the picture inline: what OpenAI, Mistral and base64-only servers all accept
    assert image == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(data).decode()}}


def test_the_request_validates_against_the_mistral_and_openai_sdks(server: VisionServer) -> None:
    from mistralai.client.models import ChatCompletionRequest, ImageURLChunk, TextChunk
    from openai.types.chat import ChatCompletionUserMessageParam

    client_for(server, max_tokens=300, temperature=0.2).describe(prepare_image(picture((30, 30))), "Describe.")
    body = server.received[0].body
    assert body is not None

    request = ChatCompletionRequest.model_validate(body)
    text, image = request.messages[0].content  # type: ignore[union-attr,misc]
    assert isinstance(text, TextChunk) and text.text == "Describe."
    assert isinstance(image, ImageURLChunk) and image.image_url.url.startswith("data:image/png;base64,")  # type: ignore[union-attr]
    assert request.max_tokens == 300 and request.temperature == 0.2

    adapter = TypeAdapter(ChatCompletionUserMessageParam)
    parts = list(adapter.validate_python(body["messages"][0])["content"])
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")  # type: ignore[index]
    # the check has teeth: OpenAI's types refuse the string form that Mistral's docs use
    string_form = {"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,AA=="}]}
    with pytest.raises(ValidationError):
        list(adapter.validate_python(string_form)["content"])


def test_the_same_message_sent_by_the_openai_sdk_gets_the_same_answer(server: VisionServer) -> None:
    """Our fake speaks what the OpenAI SDK sends and parses: so what it accepts from us is the real contract."""
    import openai

    client_for(server).describe(prepare_image(picture((40, 20), "blue")), "Describe.")
    ours = server.received[0].body
    assert ours is not None
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    completion = sdk.chat.completions.create(model=ours["model"], messages=ours["messages"])
    assert completion.choices[0].message.content == "A 40x20 picture, mostly blue."
    assert server.received[1].body == {"model": ours["model"], "messages": ours["messages"]}


def test_content_as_chunks_joins_the_text_and_drops_the_thinking() -> None:
    with VisionServer(api_key=KEY, content_mode="chunks") as srv:
        desc = client_for(srv).describe(prepare_image(picture((10, 10), "green")), "Describe.")
    assert desc.text == "A 10x10 picture, mostly green."
    assert content_text([{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                         {"type": "text", "text": "A cat "}, {"type": "text", "text": "on a mat."}]) == "A cat on a mat."
    assert content_text("  plain  ") == "plain"
    assert content_text(None) == ""


def test_large_images_are_downscaled_to_1540_px_keeping_their_aspect(server: VisionServer) -> None:
    client = client_for(server)
    client.describe(prepare_image(picture((3080, 1000), "yellow")), "Describe.")
    client.describe(prepare_image(picture((1200, 4620), "blue", "JPEG", quality=90)), "Describe.")
    client.describe(prepare_image(picture((800, 600), "green")), "Describe.")

    sizes = [(r.image_mime, r.image_size) for r in server.received]
    assert sizes == [("image/png", (1540, 500)), ("image/jpeg", (400, 1540)), ("image/png", (800, 600))]


def test_formats_vision_servers_do_not_take_are_converted(server: VisionServer, tmp_path: Path) -> None:
    tiff = tmp_path / "two.tiff"
    frames = [Image.new("RGB", (300, 200), "white"), Image.new("RGB", (300, 200), "black")]
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:])
    client = client_for(server)
    client.describe(prepare_image(picture((120, 90), "red", "BMP")), "Describe.")
    client.describe(prepare_image(tiff.read_bytes(), frame=1), "Describe.")
    client.describe(prepare_image(picture((50, 50), "blue", "WEBP")), "Describe.")

    assert [r.image_mime for r in server.received] == ["image/png", "image/png", "image/webp"]
    assert [r.status for r in server.received] == [200, 200, 200]
    assert [r.image_size for r in server.received] == [(120, 90), (300, 200), (50, 50)]


def test_an_image_still_too_big_after_conversion_is_refused_with_a_clear_error() -> None:
    noise = Image.effect_noise((1500, 1500), 120).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    with pytest.raises(OversizedInput) as info:
        prepare_image(buf.getvalue(), max_bytes=50_000)
    assert "over the vision limit of 0.05 MB" in info.value.message
    assert "PAGEMILL_VISION_MAX_IMAGE_MB" in info.value.message


def test_a_429_is_retried_after_retry_after(server: VisionServer) -> None:
    server.inject(Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "2"}))
    slept: list[float] = []

    desc = describe_prepared(client_for(server), prepare_image(picture((20, 20))), "Describe.",
                             attempts=3, base_s=0.01, sleep=slept.append)

    assert desc.text == "A 20x20 picture, mostly red."
    assert server.statuses() == [429, 200]
    assert slept == [2.0]  # the server's Retry-After, not the (shorter) backoff


def test_a_429_cools_down_every_vision_worker_but_not_ocr(server: VisionServer) -> None:
    Database.from_settings().migrate()
    settings = WorkerSettings()
    vision = build_limiter(settings, name="vision", rate_per_s=50, max_inflight=2)
    ocr = build_limiter(settings, name="ocr", rate_per_s=50, max_inflight=2)
    client = client_for(server, limiter=vision)
    server.inject(Fault(429, ERROR_BODIES["bare"]("Requests rate limit exceeded"), {"Retry-After": "1"}))

    with pytest.raises(RateLimited) as info:
        client.describe(prepare_image(picture((20, 20))), "Describe.")
    assert info.value.retry_after_s == 1.0
    # the shared limiter's "vision" keys pause every worker; OCR has keys of its own and goes on
    assert 0 < vision.backend.cooldown_remaining(vision.cfg) <= 1.0
    assert ocr.backend.cooldown_remaining(ocr.cfg) == 0

    assert client.describe(prepare_image(picture((20, 20))), "Describe.").text  # waits out the cooldown
    assert server.statuses() == [429, 200]
    assert server.received[1].at - server.received[0].at >= 0.9
    vision.close()
    ocr.close()


def test_a_rejected_key_stops_with_a_clear_message_that_never_shows_the_key(server: VisionServer) -> None:
    wrong = "sk-wrong-5f0e1d2c3b4a"
    with pytest.raises(ProviderAuthError) as info:
        describe_prepared(client_for(server, api_key=wrong), prepare_image(picture((20, 20))), "Describe.",
                          attempts=4, sleep=lambda s: None)
    assert "HTTP 401 from the vision server: Unauthorized; check PAGEMILL_VISION_API_KEY" == info.value.message
    assert server.statuses() == [401]  # not retried

    server.inject(Fault(403, {"message": f"key {wrong} is disabled"}))
    with pytest.raises(ProviderAuthError) as info:
        client_for(server, api_key=wrong).describe(prepare_image(picture((20, 20))), "Describe.")
    assert wrong not in info.value.message and "HTTP 403" in info.value.message
    assert wrong not in repr(client_for(server, api_key=wrong))


def test_server_errors_are_retryable_and_bad_requests_are_not(server: VisionServer) -> None:
    client = client_for(server)
    server.inject(Fault(503, ERROR_BODIES["bare"]("upstream overloaded"), {"Retry-After": "3"}),
                  Fault(400, ERROR_BODIES["documented"]("Image is too large")))
    with pytest.raises(ProviderUnavailable) as unavailable:
        client.describe(prepare_image(picture((8, 8))), "x")
    assert unavailable.value.retryable and unavailable.value.retry_after_s == 3
    with pytest.raises(ProviderRejected) as rejected:
        client.describe(prepare_image(picture((8, 8))), "x")
    assert "Image is too large" in rejected.value.message and not rejected.value.retryable


def test_a_server_that_is_down_is_a_retryable_error() -> None:
    with VisionServer() as srv:
        url = srv.url
    with pytest.raises(ProviderUnavailable, match="could not reach the vision server"):
        VisionClient(url, "m", timeout_s=2).describe(prepare_image(picture((8, 8))), "x")


def test_settings_default_to_a_current_latest_model_and_keep_keys_where_they_belong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = VisionSettings()
    assert not s.enabled
    assert s.model == DEFAULT_VISION_MODEL and s.model.endswith("-latest") and s.model not in RETIRED
    assert s.prompt == DEFAULT_PROMPT and "alt text" in s.prompt
    assert s.max_side == 1540 and s.max_image_mb == 10

    monkeypatch.setenv("PAGEMILL_VISION_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("PAGEMILL_VISION_MIN_SIZE", "64")
    mistral_key = SecretStr("sk-mistral-1234567")
    s = VisionSettings()
    assert s.enabled and s.min_size == 64
    # MISTRAL_API_KEY goes to Mistral only, never to another server the user pointed vision at
    assert s.effective_key(mistral_key) is None
    assert VisionSettings(base_url="https://api.mistral.ai").effective_key(mistral_key) == mistral_key
    monkeypatch.setenv("PAGEMILL_VISION_API_KEY", "sk-own-key-99")
    assert VisionSettings().effective_key(mistral_key).get_secret_value() == "sk-own-key-99"  # type: ignore[union-attr]
    assert "sk-own-key-99" not in repr(VisionSettings())
    assert VisionClient("http://127.0.0.1:1/v1/", "m").base_url == "http://127.0.0.1:1"


def test_prepare_for_uses_the_settings_limits() -> None:
    s = VisionSettings(max_side=100)
    prepared = prepare_for(picture((400, 200)), s)
    assert (prepared.width, prepared.height, prepared.converted) == (100, 50, True)
    small = picture((50, 50), fmt="JPEG")
    assert prepare_for(small, s).data == small  # already fine: sent byte for byte


def test_no_request_leaves_without_a_key_for_mistrals_own_host() -> None:
    transport = httpx.MockTransport(lambda request: pytest.fail("nothing may be sent"))  # type: ignore[arg-type]
    client = VisionClient("https://api.mistral.ai", "m", client=httpx.Client(transport=transport))
    with pytest.raises(ProviderAuthError, match="no API key"):
        client.describe(prepare_image(picture((8, 8))), "x")
