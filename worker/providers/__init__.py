"""OCR providers behind one interface. Adding one: a module here plus an entry in PROVIDERS."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import OcrImage, OcrPage, OcrProvider, OcrResult, OcrUsage, SourceDocument

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = [
    "PROVIDERS",
    "get_provider",
    "OcrImage",
    "OcrPage",
    "OcrProvider",
    "OcrResult",
    "OcrUsage",
    "SourceDocument",
]


def _tesseract(settings: WorkerSettings) -> OcrProvider:
    from .tesseract import TesseractProvider

    return TesseractProvider(lang=settings.lang, tessdata=settings.tessdata, dpi=settings.dpi)


def _mistral(settings: WorkerSettings) -> OcrProvider:
    from .mistral import MistralProvider

    return MistralProvider.from_settings(settings)


PROVIDERS: dict[str, Callable[[WorkerSettings], OcrProvider]] = {
    "tesseract": _tesseract,
    "local": _tesseract,
    "mistral": _mistral,
}


def get_provider(settings: WorkerSettings) -> OcrProvider:
    """The configured provider, behind the text-layer-first wrapper unless the mode is `never`."""
    from .textlayer_first import TextLayerFirst, default_mode

    provider = PROVIDERS[settings.provider](settings)
    mode = default_mode(settings.provider, settings.text_layer)
    if mode == "never":
        return provider
    return TextLayerFirst(provider, mode=mode, dpi=settings.dpi)
