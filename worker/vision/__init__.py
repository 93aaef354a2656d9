"""Describing images with a vision model over an OpenAI/Mistral-compatible `/v1/chat/completions` endpoint.

settings.py (VisionSettings), prepare.py (downscale/convert), chat.py (request body, response text),
errors.py (HTTP status -> pagemill errors), client.py (VisionClient), describe.py (plan, describe, store).
The Celery tasks are in worker/vision_tasks.py.
"""

from .chat import Description
from .client import VisionClient
from .prepare import PreparedImage, prepare_image
from .settings import VisionSettings

__all__ = ["Description", "PreparedImage", "VisionClient", "VisionSettings", "prepare_image"]
