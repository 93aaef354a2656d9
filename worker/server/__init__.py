"""`pagemill serve`: a Mistral-compatible `/v1/ocr` (and `/v1/files`) server over the local OCR engine."""

from __future__ import annotations

from .app import create_app
from .settings import ServerSettings

__all__ = ["create_app", "ServerSettings"]
