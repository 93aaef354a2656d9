"""The error bodies of the Mistral API, and the translation of pagemill's errors into them.

Validation errors keep FastAPI's own shape (422 `{"detail": [...]}`), as the real API does; everything else
uses the documented shape `{"object": "error", "message", "type", "param", "code", "raw_status_code"}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from models.errors import (
    EmptyInput,
    EncryptedInput,
    InputError,
    OversizedInput,
    PagemillError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFormat,
)

__all__ = ["ApiError", "validation_error", "from_pagemill_error", "install_handlers"]


class ApiError(Exception):
    """An HTTP error with the documented body; `headers` e.g. Retry-After or WWW-Authenticate."""

    def __init__(self, status: int, message: str, type_: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"object": "error", "message": self.message, "type": self.type, "param": None,
                "code": self.code, "raw_status_code": self.status}


def validation_error(loc: list[str | int], msg: str, value: Any = None,
                     type_: str = "value_error") -> RequestValidationError:
    """A 422 in FastAPI's shape for a check made after the body was parsed."""
    return RequestValidationError([{"type": type_, "loc": loc, "msg": msg, "input": value}])


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized: send the server's key as `Authorization: Bearer <key>`",
                    "authentication_error", "1000", {"WWW-Authenticate": "Bearer"})


def too_large(message: str) -> ApiError:
    return ApiError(413, message, "invalid_request_error", "3051")


def from_pagemill_error(err: PagemillError) -> ApiError:
    """A document the engine cannot read is the client's problem (400); anything else is ours (500)."""
    if isinstance(err, OversizedInput):
        return too_large(err.message)
    if isinstance(err, (UnsupportedFormat, EmptyInput)):
        return ApiError(400, err.message, "document_parser_unsupported_file", "3741")
    if isinstance(err, EncryptedInput):
        return ApiError(400, err.message, "document_parser_encrypted_file", "3742")
    if isinstance(err, InputError):
        return ApiError(400, err.message, "document_parser_invalid_file", "3740")
    if isinstance(err, RateLimited | ProviderUnavailable):
        # the configured provider (PAGEMILL_PROVIDER=vlm/mistral) is busy or down: the client may retry
        wait = err.retry_after_s
        status = 429 if isinstance(err, RateLimited) else 503
        return ApiError(status, f"the OCR provider is {'busy' if status == 429 else 'unavailable'}: "
                        f"{err.message}", "rate_limited" if status == 429 else "server_error", str(err.code),
                        {"Retry-After": str(max(1, round(wait)))} if wait else {"Retry-After": "1"})
    if isinstance(err, ProviderError):
        return ApiError(502, f"the OCR provider failed: {err.message}", "server_error", str(err.code))
    return ApiError(500, f"the OCR engine failed: {err.message}", "server_error", str(err.code))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _pagemill_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PagemillError)
    return await _api_error(request, from_pagemill_error(exc))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(PagemillError, _pagemill_error)
