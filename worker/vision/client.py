"""An httpx client for `POST {PAGEMILL_VISION_BASE_URL}/v1/chat/completions` that describes one image.

    client = VisionClient.from_settings(VisionSettings(), limiter=limiter)
    description = client.describe(prepare_image(data), "Describe this image.")

Each request waits for the shared "vision" rate limiter (its own keys, rate and in-flight cap, separate from
OCR) and holds a slot while it runs; a 429 sets the shared cooldown so every worker slows down. The key lives in
a SecretStr and in the request headers only: never in a repr, a message or a log line.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from models.errors import ConfigError, ProviderAuthError, RateLimited

from .chat import Description, chat_request, parse_chat_response
from .errors import AUTH_HINT, error_for_status, map_transport_errors
from .prepare import PreparedImage
from .settings import VisionSettings

if TYPE_CHECKING:
    from ..ratelimit import RateLimiter

__all__ = ["VisionClient", "CHAT_PATH", "DEFAULT_COOLDOWN_S"]

CHAT_PATH = "/v1/chat/completions"
DEFAULT_COOLDOWN_S = 1.0  # a 429 without Retry-After still pauses every worker this long
_OFFICIAL_HOST = "api.mistral.ai"


def _base(url: str) -> str:
    url = url.strip().rstrip("/")
    # "https://api.mistral.ai/v1", as OpenAI-style clients spell it
    return url[: -len("/v1")] if url.endswith("/v1") else url


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
        self.base_url = _base(base_url)
        self.model = model
        self._key = api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
        self.timeout_s = timeout_s
        self.limiter = limiter
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VisionClient(base_url={self.base_url!r}, model={self.model!r})"

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

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                timeout = httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
                self._client = httpx.Client(timeout=timeout)
            return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None and self._key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        elif _OFFICIAL_HOST in self.base_url:
            raise ProviderAuthError(f"no API key for {self.base_url}; {AUTH_HINT}")
        return headers

    def describe(self, image: PreparedImage, prompt: str) -> Description:
        """One request; raises the errors of models/errors.py (the caller decides about retrying)."""
        headers = self._headers()
        body = chat_request(self.model, prompt, image.data_uri, self.max_tokens, self.temperature)
        content = json.dumps(body).encode()
        if self.limiter is not None:
            with self.limiter.slot():
                response = self._post(content, headers)
        else:
            response = self._post(content, headers)
        if response.status_code != 200:
            err = error_for_status(response, self._key.get_secret_value() if self._key else None)
            if isinstance(err, RateLimited) and self.limiter is not None:
                self.limiter.cool_down(err.retry_after_s or DEFAULT_COOLDOWN_S)
            raise err
        return parse_chat_response(response.content, self.model)

    def _post(self, content: bytes, headers: dict[str, str]) -> httpx.Response:
        with map_transport_errors(self.timeout_s):
            return self._http().post(self.base_url + CHAT_PATH, content=content, headers=headers)

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
        if self.limiter is not None:
            self.limiter.close()
