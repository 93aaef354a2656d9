"""Describing images with a vision model over an OpenAI/Mistral-compatible `/v1/chat/completions` endpoint.

settings.py (VisionSettings), prepare.py (downscale/convert), chat.py (request body, response text),
errors.py (HTTP status -> pagemill errors), client.py (VisionClient), describe.py (plan, describe, store).
The Celery tasks are in worker/vision/tasks.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat import Description
    from .client import VisionClient
    from .prepare import PreparedImage, prepare_image
    from .settings import VisionSettings

__all__ = ["Description", "PreparedImage", "VisionClient", "VisionSettings", "prepare_image"]

# loaded on first use (PEP 562): the settings and ids are read by commands that never call the model, and the
# client needs httpx
_HOME = {"Description": "chat", "VisionClient": "client", "PreparedImage": "prepare", "prepare_image": "prepare",
         "VisionSettings": "settings"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'worker.vision' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
