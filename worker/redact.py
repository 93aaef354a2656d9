"""Keep secrets out of everything pagemill writes: logs, tracebacks, error messages in the database.

Providers never put the API key in their messages; this is the second line: text that reaches a log handler
or an error column passes through `redact`, which replaces every configured secret with `***`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["redact", "RedactingFilter", "configured_secrets", "install_log_redaction"]

_MASK = "***"
_SECRET_ENV = ("MISTRAL_API_KEY", "PAGEMILL_API_KEY", "PAGEMILL_VISION_API_KEY", "PAGEMILL_SERVE_API_KEY")
_MIN_LEN = 6  # shorter values would mask ordinary words


@lru_cache(maxsize=1)
def configured_secrets() -> tuple[str, ...]:
    """The secrets of this process's configuration (read once: the key does not change while running)."""
    return tuple(v for k in _SECRET_ENV if len(v := os.environ.get(k, "").strip()) >= _MIN_LEN)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in configured_secrets() if secrets is None else secrets:
        if secret and secret in text:
            text = text.replace(secret, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message and traceback once, redacted, so no handler sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not configured_secrets():
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of `logger` (the root logger by default), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
