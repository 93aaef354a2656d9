"""The plumbing shared by pagemill's JSON-over-HTTP clients (the Mistral OCR provider, the vision client).

    api = BearerApiClient("https://api.mistral.ai", key, ServerErrors("OCR server", "check MISTRAL_API_KEY"))
    response = api.send("/v1/ocr", content, api.headers())     # 200 only; anything else raises

`BearerApiClient` owns the connection side: the base URL, the key (a SecretStr, sent in the Authorization
header only, never in a repr, a message or a log line), the timeout, one pooled httpx.Client (built lazily,
thread-safe, closed only if it was not injected) and the shared rate limiter (a slot per request; a 429 slows
every worker). `ServerErrors` translates HTTP failures into the errors of models/errors.py: 429 -> RateLimited
(Retry-After honoured); 408/425/5xx and transport failures -> ProviderUnavailable (retryable); 401/403 ->
ProviderAuthError (stop: the key is wrong; the message ends with a "check X_API_KEY" hint); any other 4xx ->
ProviderRejected with the server's own words. Error bodies come in three shapes (tests/fakes/_http_fake.py sends each):
the documented `{"object":"error","message":...,"type":...,"code":...}`, FastAPI's
`{"detail": "..." | [{"loc":..,"msg":..}]}` and the bare gateway `{"message": "..."}`.
Nothing above this module sees an httpx exception. What a request carries and what an answer means stay with
each client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx
from pydantic import SecretStr

from models.errors import PagemillError, ProviderAuthError, ProviderRejected, ProviderUnavailable, RateLimited

if TYPE_CHECKING:
    from .ratelimit.limiter import RateLimiter

__all__ = [
    "BearerApiClient",
    "DEFAULT_COOLDOWN_S",
    "ServerErrors",
    "api_base_url",
    "error_message",
    "parse_retry_after",
    "redact",
]

DEFAULT_COOLDOWN_S = 1.0  # the Retry-After assumed when a 429 has none
_OFFICIAL_HOST = "api.mistral.ai"
_RETRYABLE = {408, 425}
_MAX_MESSAGE = 500


def redact(text: str, secret: str | None) -> str:
    """A server may echo the key back ("invalid key sk-..."): never let it into a message."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _detail_text(detail: object) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, Mapping):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                msg = str(item.get("msg", ""))
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p)
    return json.dumps(detail)[:_MAX_MESSAGE] if detail is not None else ""


def error_message(body: bytes) -> str:
    """The server's own words from any of the three shapes, or the start of the raw body."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    text = ""
    if isinstance(data, Mapping):
        if data.get("message"):
            text = str(data["message"])
            if data.get("type"):
                text = f"{text} ({data['type']})"
        elif "detail" in data:
            text = _detail_text(data["detail"])
        elif isinstance(data.get("error"), Mapping):  # OpenAI-style gateways
            text = str(data["error"].get("message", ""))
    if not text:
        text = body[:200].decode("utf-8", "replace").strip() or "no error message"
    return " ".join(text.split())[:_MAX_MESSAGE]


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date) or `retry-after-ms`."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class ServerErrors:
    """How one kind of server's failures are worded: `server` ("OCR server") names it in every message and
    `auth_hint` ("check MISTRAL_API_KEY") ends the messages of a rejected or missing key."""

    server: str
    auth_hint: str

    def for_status(self, response: httpx.Response, secret: str | None = None) -> PagemillError:
        status = response.status_code
        where = f"HTTP {status} from the {self.server}"
        message = redact(error_message(response.content), secret)
        retry_after = parse_retry_after(response.headers)
        if status == 429:
            return RateLimited(f"{where}: {message}", retry_after)
        if status in (401, 403):
            return ProviderAuthError(f"{where}: {message}; {self.auth_hint}")
        if status in _RETRYABLE or status >= 500:
            return ProviderUnavailable(f"{where}: {message}", retry_after)
        return ProviderRejected(f"{where}: {message}")

    @contextmanager
    def transport(self, timeout_s: float) -> Iterator[None]:
        """Timeouts and connection failures are worth retrying; the URL (never the key) is named."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(
                f"the {self.server} did not answer within {timeout_s:g} s ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                f"could not reach the {self.server} ({type(exc).__name__}: {exc})"
            ) from None


def api_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    # "https://api.mistral.ai/v1", as OpenAI-style clients spell it: the paths pagemill appends start at /v1
    return url[: -len("/v1")] if url.endswith("/v1") else url


class BearerApiClient:
    """One server reached with a bearer key; see the module docstring. `metrics_label` (a provider name)
    counts each request in pagemill_request_seconds; `proportional_429` picks the limiter's answer to a 429:
    slow every worker in proportion (`slow_down`) or pause them all for Retry-After (`cool_down`)."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str | None,
        errors: ServerErrors,
        timeout_s: float = 120.0,
        limiter: RateLimiter | None = None,
        client: httpx.Client | None = None,
        metrics_label: str | None = None,
        proportional_429: bool = True,
    ) -> None:
        self.base_url = api_base_url(base_url)
        self._key = api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
        self.errors = errors
        self.timeout_s = timeout_s
        self.limiter = limiter
        self.metrics_label = metrics_label
        self.proportional_429 = proportional_429
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BearerApiClient(base_url={self.base_url!r})"

    def _secret(self) -> str | None:
        return self._key.get_secret_value() if self._key is not None else None

    def http(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                # one connection per request the limiter lets through at once, within reason
                connections = max(10, min(self.limiter.cfg.max_inflight, 64) if self.limiter else 10)
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
                    limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
                )
            return self._client

    def headers(self) -> dict[str, str]:
        """The request headers; raises ProviderAuthError before anything is sent when Mistral's own host would
        get no key."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        secret = self._secret()
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        elif _OFFICIAL_HOST in self.base_url:
            raise ProviderAuthError(f"no API key for {self.base_url}; {self.errors.auth_hint}")
        return headers

    def error_for(self, response: httpx.Response) -> PagemillError:
        """The pagemill error for a failed answer, the key redacted from the server's words."""
        return self.errors.for_status(response, self._secret())

    def send(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST `content` to `path` holding a limiter slot; any answer but 200 raises (a 429 also tells the
        limiter)."""
        self.http()  # set up (TLS context, pool) before taking a slot, so a reserved slot is not sent late
        if self.limiter is not None:
            with self.limiter.slot():
                response = self._timed_post(path, content, headers)
        else:
            response = self._timed_post(path, content, headers)
        if response.status_code == 200:
            return response
        err = self.errors.for_status(response, self._secret())
        if isinstance(err, RateLimited) and self.limiter is not None:
            pause = err.retry_after_s or DEFAULT_COOLDOWN_S
            if self.proportional_429:
                self.limiter.slow_down(pause)
            else:
                self.limiter.cool_down(pause)
        raise err

    def _timed_post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        if self.metrics_label is None:
            return self._post(path, content, headers)
        from .metrics import METRICS  # imported on first use: it sets up multiprocess mode when imported

        started = time.monotonic()
        status = "error"  # no answer: a timeout or a refused connection
        try:
            response = self._post(path, content, headers)
            status = str(response.status_code)
            return response
        finally:
            METRICS.request_seconds.labels(self.metrics_label, status).observe(time.monotonic() - started)
            if status == "429":
                METRICS.rate_limited.labels(self.metrics_label).inc()

    def _post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        with self.errors.transport(self.timeout_s):
            return self.http().post(self.base_url + path, content=content, headers=headers)

    def close(self) -> None:
        """Closes the httpx client if this object built it, and the limiter."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
        if self.limiter is not None:
            self.limiter.close()
