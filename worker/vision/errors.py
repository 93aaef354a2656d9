"""How the vision client words HTTP failures: "... from the vision server ...; check PAGEMILL_VISION_API_KEY".

The rules are the OCR provider's (worker/http_api.py): 429 -> RateLimited, 408/425/5xx and transport failures
-> ProviderUnavailable, 401/403 -> ProviderAuthError, any other 4xx -> ProviderRejected.
"""

from __future__ import annotations

from ..http_api import ServerErrors

__all__ = ["AUTH_HINT", "VISION_ERRORS"]

AUTH_HINT = "check PAGEMILL_VISION_API_KEY"
VISION_ERRORS = ServerErrors("vision server", AUTH_HINT)
