"""How the Mistral OCR provider words HTTP failures: "... from the OCR server ...; check MISTRAL_API_KEY".

The rules themselves (status -> pagemill error, the three error-body shapes, Retry-After, key redaction) are
shared with the vision client and live in worker/http_api.py.
"""

from __future__ import annotations

from ..http_api import ServerErrors, error_message, parse_retry_after, redact

__all__ = ["AUTH_HINT", "OCR_ERRORS", "error_message", "parse_retry_after", "redact"]

AUTH_HINT = "check MISTRAL_API_KEY"
OCR_ERRORS = ServerErrors("OCR server", AUTH_HINT)
