"""HTTP failures of a Mistral-compatible server, translated into pagemill errors in one place.

Error bodies come in three shapes (reference/mistral-api.md §3): the documented
`{"object":"error","message":...,"type":...,"code":...}`, FastAPI's `{"detail": "..." | [{"loc":..,"msg":..}]}`
and the bare gateway `{"message": "..."}`. Nothing above `worker/providers/` sees an httpx exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import httpx

from models.errors import (
    PagemillError,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)

__all__ = [
    "AUTH_HINT",
    "error_message",
    "error_for_status",
    "parse_retry_after",
    "map_transport_errors",
    "redact",
]

AUTH_HINT = "check MISTRAL_API_KEY"
_RETRYABLE = {408, 425, 500, 502, 503, 504}
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


def error_for_status(response: httpx.Response, secret: str | None = None) -> PagemillError:
    status = response.status_code
    message = redact(error_message(response.content), secret)
    retry_after = parse_retry_after(response.headers)
    if status == 429:
        return RateLimited(f"HTTP 429 from the OCR server: {message}", retry_after)
    if status in (401, 403):
        return ProviderAuthError(f"HTTP {status} from the OCR server: {message}; {AUTH_HINT}")
    if status in _RETRYABLE or status >= 500:
        return ProviderUnavailable(f"HTTP {status} from the OCR server: {message}", retry_after)
    return ProviderRejected(f"HTTP {status} from the OCR server: {message}")


@contextmanager
def map_transport_errors(timeout_s: float) -> Iterator[None]:
    """Timeouts and connection failures are worth retrying; the URL (never the key) is named."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(
            f"the OCR server did not answer within {timeout_s:g} s ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"could not reach the OCR server ({type(exc).__name__}: {exc})") from None
