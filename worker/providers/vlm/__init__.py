"""OCR with any vision-language model behind an OpenAI-compatible `/v1/chat/completions` (PAGEMILL_PROVIDER=vlm).

- `settings.py`: PAGEMILL_VLM_... settings.
- `client.py`: the chat request with one page image as a data URI, and its answer.
- `pages.py`: pages rendered in colour at the profile's size.
- `profiles/`: one module per model family (olmOCR, dots.ocr, DeepSeek-OCR, generic markdown) and the registry.
- `guards.py`: blank pages, cut-off and looping answers, refusals, hostile markup.
- `tables.py`: tables out of the markdown as the layout's table format.
- `provider.py`: the provider: pages concurrently through the shared limiter, retries, rotation, fallbacks.
"""

from __future__ import annotations

from .provider import VlmProvider
from .settings import VlmSettings

__all__ = ["VlmProvider", "VlmSettings"]
