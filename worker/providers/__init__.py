"""OCR providers behind one interface (local engine, Mistral, vlm). Adding one: a module here plus an entry in PROVIDERS.

The registry builds providers from the worker settings; the settings do not import it (no cycle). So the check
that PAGEMILL_PROVIDER names a provider is here: `check_provider`, called by every command that starts work and
by `get_provider`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from models.errors import ConfigError

from .base import OcrImage, OcrPage, OcrProvider, OcrResult, OcrUsage, SourceDocument

if TYPE_CHECKING:
    from ..layout.markdown import PageOptions
    from ..settings import WorkerSettings

__all__ = [
    "PROVIDERS",
    "check_languages",
    "check_provider",
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

    return TesseractProvider(lang=settings.lang, tessdata=settings.tessdata, dpi=settings.dpi,
                             options=page_options(settings))


def page_options(settings: WorkerSettings) -> PageOptions:
    """What the local engine and the text layer write of a page: the same fields the Mistral request sends."""
    from ..layout.markdown import PageOptions

    return PageOptions(table_format=settings.table_format, extract_header=settings.extract_header,
                       extract_footer=settings.extract_footer, confidence=settings.confidence_scores)


def _mistral(settings: WorkerSettings) -> OcrProvider:
    from .mistral import MistralProvider

    return MistralProvider.from_settings(settings)


def _vlm(settings: WorkerSettings) -> OcrProvider:
    from .vlm import VlmProvider

    return VlmProvider.from_settings(settings)


PROVIDERS: dict[str, Callable[[WorkerSettings], OcrProvider]] = {
    "tesseract": _tesseract,
    "local": _tesseract,
    "mistral": _mistral,
    "vlm": _vlm,  # any vision-language model behind /v1/chat/completions (providers/vlm/)
}


def check_provider(name: str) -> None:
    """A PAGEMILL_PROVIDER that names no provider stops the command with what is accepted."""
    if name not in PROVIDERS:
        raise ConfigError(f"PAGEMILL_PROVIDER: unknown provider {name!r}; choose one of {', '.join(sorted(PROVIDERS))}")


def check_languages(settings: WorkerSettings) -> None:
    """With the local engine, a --lang / PAGEMILL_LANG this host has no data for stops the command before
    anything is queued, with the package to install (the engine says the same on a document otherwise)."""
    from ..settings import LOCAL_PROVIDERS

    if settings.provider in LOCAL_PROVIDERS:
        from ._tessdata import check_lang

        check_lang(settings.lang, settings.tessdata)


def get_provider(settings: WorkerSettings) -> OcrProvider:
    """The configured provider, behind the text-layer-first wrapper unless the mode is `never`."""
    from .textlayer_first import TextLayerFirst

    check_provider(settings.provider)
    provider = PROVIDERS[settings.provider](settings)
    mode = settings.text_layer_mode
    if mode == "never":
        return provider
    return TextLayerFirst(provider, mode=mode, dpi=settings.dpi, options=page_options(settings))
