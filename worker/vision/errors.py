"""HTTP failures of a vision server as pagemill errors: the same rules as OCR, worded for vision.

429 -> RateLimited (Retry-After honoured); 408/425/5xx and transport failures -> ProviderUnavailable
(retryable); 401/403 -> ProviderAuthError (stop: the key is wrong); any other 4xx -> ProviderRejected with the
server's own words. The body parsing and Retry-After reading are the OCR provider's (all three body shapes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from models.errors import (
    PagemillError,
    ProviderAuthError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)

from ..providers._mistral_errors import error_message, parse_retry_after, redact

__all__ = ["AUTH_HINT", "error_for_status", "map_transport_errors"]

AUTH_HINT = "check PAGEMILL_VISION_API_KEY"
_RETRYABLE = {408, 425}


def error_for_status(response: httpx.Response, secret: str | None = None) -> PagemillError:
    status = response.status_code
    message = redact(error_message(response.content), secret)
    retry_after = parse_retry_after(response.headers)
    where = f"HTTP {status} from the vision server"
    if status == 429:
        return RateLimited(f"{where}: {message}", retry_after)
    if status in (401, 403):
        return ProviderAuthError(f"{where}: {message}; {AUTH_HINT}")
    if status in _RETRYABLE or status >= 500:
        return ProviderUnavailable(f"{where}: {message}", retry_after)
    return ProviderRejected(f"{where}: {message}")


@contextmanager
def map_transport_errors(timeout_s: float) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(
            f"the vision server did not answer within {timeout_s:g} s ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"could not reach the vision server ({type(exc).__name__}: {exc})") from None
