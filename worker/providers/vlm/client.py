"""`POST {PAGEMILL_VLM_BASE_URL}/v1/chat/completions` with one page image, and what came back.

The image goes inline as a base64 data URI, `image_url` as `{"url": ...}` (OpenAI's schema; vLLM, SGLang,
Ollama) or as the plain string (Mistral accepts both; PAGEMILL_VLM_IMAGE_URL_FORM=string). The answer's
`message.content` may be a string or a list of chunks (text chunks joined, thinking dropped). An empty or odd
answer is *not* an error here: the guards (guards.py) decide what it means, so it is retried and recorded.
HTTP failures are worker/http_api.py's: 429 -> RateLimited (the shared limiter slows every worker), 5xx and
time-outs -> ProviderUnavailable, 401/403 -> ProviderAuthError ("check PAGEMILL_VLM_API_KEY").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from models.errors import MalformedResponse

from ...http_api import BearerApiClient, ServerErrors
from ...vision.chat import content_text

if TYPE_CHECKING:
    from ...ratelimit.limiter import RateLimiter

__all__ = ["ChatAnswer", "VlmClient", "CHAT_PATH", "VLM_ERRORS", "chat_body"]

CHAT_PATH = "/v1/chat/completions"
VLM_ERRORS = ServerErrors("VLM server", "check PAGEMILL_VLM_API_KEY")


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    finish_reason: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    refusal: str | None = None  # OpenAI's message.refusal, when the server sets it


def chat_body(model: str, prompt: str, image_uri: str, *, max_tokens: int | None, temperature: float,
              image_first: bool = False, url_form: str = "object",
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"type": "image_url",
                             "image_url": {"url": image_uri} if url_form == "object" else image_uri}
    text = {"type": "text", "text": prompt}
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": [image, text] if image_first else [text, image]}],
        "temperature": temperature,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    # a profile's server-specific sampling fields (vLLM reads unknown top-level fields as sampling parameters;
    # OpenAI-compatible servers that do not know them ignore them)
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return body


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def parse_answer(body: bytes) -> ChatAnswer:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"the VLM server sent a body that is not JSON ({len(body)} bytes)") from None
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse("the VLM server's response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise MalformedResponse("the VLM server's first choice has no message")
    text = content_text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    reason = choices[0].get("finish_reason")
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    model = data.get("model") if isinstance(data.get("model"), str) and data.get("model") else None
    return ChatAnswer(text, reason if isinstance(reason, str) else None, model,
                      _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), refusal)


class VlmClient:
    """One chat request per call, through the shared limiter; thread-safe (one pooled httpx client)."""

    def __init__(self, base_url: str, model: str, api_key: SecretStr | str | None = None, timeout_s: float = 300.0,
                 limiter: RateLimiter | None = None, client: httpx.Client | None = None,
                 url_form: str = "object") -> None:
        self.model = model
        self.url_form = url_form
        self._api = BearerApiClient(base_url, api_key, VLM_ERRORS, timeout_s, limiter, client, metrics_label="vlm")

    def __repr__(self) -> str:
        return f"VlmClient(base_url={self._api.base_url!r}, model={self.model!r})"

    @property
    def base_url(self) -> str:
        return self._api.base_url

    def warm(self) -> None:
        self._api.http()

    def ask(self, prompt: str, image_uri: str, *, max_tokens: int | None, temperature: float,
            image_first: bool = False, extra: Mapping[str, Any] | None = None) -> ChatAnswer:
        headers = self._api.headers()
        body = chat_body(self.model, prompt, image_uri, max_tokens=max_tokens, temperature=temperature,
                         image_first=image_first, url_form=self.url_form, extra=extra)
        response = self._api.send(CHAT_PATH, json.dumps(body).encode(), headers)
        return parse_answer(response.content)

    def close(self) -> None:
        self._api.close()
