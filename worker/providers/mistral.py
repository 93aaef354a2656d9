"""The Mistral OCR provider: `POST {PAGEMILL_OCR_BASE_URL}/v1/ocr` with only the pages of one range.

Each request waits for the shared rate limiter (worker/ratelimit.py) and holds one in-flight slot while it runs.
A 429 slows every worker through the shared limiter (`slow_down`: in proportion for a near miss, a full pause for
a long Retry-After or 429s in a row), then raises `RateLimited` so the task retries after Retry-After; 5xx/timeouts raise `ProviderUnavailable`; 400/404/422 `ProviderRejected` with
the server's message; 401/403 `ProviderAuthError` ("check MISTRAL_API_KEY"), which stops the job.
The key lives in a SecretStr and in the client's headers only: never in a message, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from models.errors import PagemillError, ProviderAuthError, RateLimited

from ._mistral_errors import AUTH_HINT, error_for_status, map_transport_errors
from ._mistral_request import RequestOptions, RequestPart, plan_parts, request_body
from ._mistral_response import ParsedResponse, parse_response
from .base import OcrPage, OcrResult, OcrUsage, SourceDocument

if TYPE_CHECKING:
    from ..ratelimit import RateLimiter
    from ..settings import WorkerSettings

__all__ = ["MistralProvider", "DEFAULT_COOLDOWN_S", "OCR_PATH"]

log = logging.getLogger("pagemill.worker.mistral")

OCR_PATH = "/v1/ocr"
DEFAULT_COOLDOWN_S = 1.0  # the Retry-After assumed when a 429 has none
_OFFICIAL_HOST = "api.mistral.ai"


class MistralProvider:
    name = "mistral"

    def __init__(
        self,
        options: RequestOptions,
        api_key: SecretStr | str | None = None,
        base_url: str = "https://api.mistral.ai",
        timeout_s: float = 120.0,
        limiter: RateLimiter | None = None,
        client: httpx.Client | None = None,
        max_request_bytes: int = 50_000_000,
        max_request_pages: int = 1000,
    ) -> None:
        self.options = options
        self._key = api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v1"):  # "https://api.mistral.ai/v1", as some clients spell it
            self.base_url = self.base_url[: -len("/v1")]
        self.timeout_s = timeout_s
        self.limiter = limiter
        self.max_request_bytes = max_request_bytes
        self.max_request_pages = max_request_pages
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MistralProvider(base_url={self.base_url!r}, model={self.options.model!r})"

    @classmethod
    def from_settings(cls, settings: WorkerSettings, client: httpx.Client | None = None) -> MistralProvider:
        from ..ratelimit import build_limiter

        options = RequestOptions(
            model=settings.ocr_model,
            include_image_base64=settings.include_image_base64,
            table_format=settings.table_format,
            extract_header=settings.extract_header,
            extract_footer=settings.extract_footer,
            image_limit=settings.image_limit,
            image_min_size=settings.image_min_size,
        )
        return cls(
            options,
            api_key=settings.api_key,
            base_url=settings.ocr_base_url,
            timeout_s=settings.request_timeout_s,
            limiter=build_limiter(settings, name="ocr"),
            client=client,
            max_request_bytes=settings.max_request_mb * 1_000_000,
            max_request_pages=settings.max_request_pages,
        )

    @property
    def model(self) -> str:
        return self.options.model

    def _http(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                connections = max(10, min(self.limiter.cfg.max_inflight, 64) if self.limiter else 10)
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
                    limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
                )
            return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None and self._key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        elif _OFFICIAL_HOST in self.base_url:
            raise ProviderAuthError(f"no API key for {self.base_url}; {AUTH_HINT}")
        return headers

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        headers = self._headers()
        parsed: list[ParsedResponse] = []
        for part in plan_parts(source, pages, self.max_request_bytes, self.max_request_pages):
            try:
                parsed.append(self._send(part, headers))
            except PagemillError as err:
                if parsed:
                    # earlier parts of this range were answered and billed: hand them back to be stored
                    err.partial = self._combine(parsed)
                    if isinstance(err, RateLimited):
                        err.sent = True
                raise
        return self._combine(parsed)

    def _combine(self, parsed: list[ParsedResponse]) -> OcrResult:
        out_pages: list[OcrPage] = sorted((p for r in parsed for p in r.pages), key=lambda p: p.index)
        sizes = [r.usage.doc_size_bytes for r in parsed if r.usage.doc_size_bytes is not None]
        usage = OcrUsage(
            pages_processed=sum(r.usage.pages_processed for r in parsed),
            doc_size_bytes=sum(sizes) if sizes else None,
        )
        model = next((r.model for r in parsed if r.model), None) or self.options.model
        return OcrResult(pages=out_pages, model=model, usage=usage, billed=True)

    def _send(self, part: RequestPart, headers: dict[str, str]) -> ParsedResponse:
        content = json.dumps(request_body(part, self.options)).encode()
        self._http()  # set up (TLS context, pool) before taking a slot, so a reserved slot is not sent late
        secret = self._key.get_secret_value() if self._key else None
        if self.limiter is not None:
            with self.limiter.slot():
                response = self._timed_post(content, headers)
        else:
            response = self._timed_post(content, headers)
        if response.status_code != 200:
            err = error_for_status(response, secret)
            if isinstance(err, RateLimited) and self.limiter is not None:
                self.limiter.slow_down(err.retry_after_s or DEFAULT_COOLDOWN_S)
            raise err
        return parse_response(response.content, part.pages, self.name)

    def _timed_post(self, content: bytes, headers: dict[str, str]) -> httpx.Response:
        from ..metrics import METRICS

        started = time.monotonic()
        status = "error"  # no answer: a timeout or a refused connection
        try:
            response = self._post(content, headers)
            status = str(response.status_code)
            return response
        finally:
            METRICS.request_seconds.labels(self.name, status).observe(time.monotonic() - started)
            if status == "429":
                METRICS.rate_limited.labels(self.name).inc()

    def _post(self, content: bytes, headers: dict[str, str]) -> httpx.Response:
        with map_transport_errors(self.timeout_s):
            return self._http().post(self.base_url + OCR_PATH, content=content, headers=headers)

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
        if self.limiter is not None:
            self.limiter.close()
