"""An httpx client for `POST {PAGEMILL_VISION_BASE_URL}/v1/chat/completions` that describes one image.

    client = VisionClient.from_settings(VisionSettings(), limiter=limiter)
    description = client.describe(prepare_image(data), "Describe this image.")

Each request waits for the shared "vision" rate limiter (its own keys, rate and in-flight cap, separate from
OCR) and holds a slot while it runs; a 429 sets the shared cooldown so every worker slows down. The
connection, the key (a SecretStr, in the request headers only: never in a repr, a message or a log line) and
the error mapping are worker/http_api.py's; this module owns the chat request (chat.py builds and reads it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from models.errors import ConfigError

from ..http_api import DEFAULT_COOLDOWN_S, BearerApiClient
from .chat import Description, chat_request, parse_chat_response
from .errors import VISION_ERRORS
from .prepare import PreparedImage
from .settings import VisionSettings

if TYPE_CHECKING:
    from ..ratelimit.limiter import RateLimiter

__all__ = ["VisionClient", "CHAT_PATH", "DEFAULT_COOLDOWN_S"]

CHAT_PATH = "/v1/chat/completions"


class VisionClient:
    name = "vision"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None = None,
        timeout_s: float = 120.0,
        limiter: RateLimiter | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not base_url.strip():
            raise ConfigError("no vision server: set PAGEMILL_VISION_BASE_URL (e.g. https://api.mistral.ai)")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        # a 429 pauses every vision worker for its Retry-After (no proportional slow-down)
        self._api = BearerApiClient(
            base_url, api_key, VISION_ERRORS, timeout_s, limiter, client, proportional_429=False
        )

    def __repr__(self) -> str:
        return f"VisionClient(base_url={self.base_url!r}, model={self.model!r})"

    @property
    def base_url(self) -> str:
        return self._api.base_url

    @classmethod
    def from_settings(
        cls, settings: VisionSettings, mistral_key: SecretStr | None = None, limiter: RateLimiter | None = None
    ) -> VisionClient:
        return cls(
            settings.base_url or "",
            settings.model,
            api_key=settings.effective_key(mistral_key),
            timeout_s=settings.timeout_s,
            limiter=limiter,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
        )

    def describe(self, image: PreparedImage, prompt: str) -> Description:
        """One request; raises the errors of models/errors.py (the caller decides about retrying)."""
        headers = self._api.headers()
        body = chat_request(self.model, prompt, image.data_uri, self.max_tokens, self.temperature)
        response = self._api.send(CHAT_PATH, json.dumps(body).encode(), headers)
        return parse_chat_response(response.content, self.model)

    def close(self) -> None:
        self._api.close()
