"""A real HTTP server on 127.0.0.1 that speaks `POST /v1/chat/completions` for images, recording every request.

    with VisionServer(api_key="sk-vision") as server:
        server.inject(Fault(429, headers={"Retry-After": "1"}))   # the next request fails
        ...  # PAGEMILL_VISION_BASE_URL=server.url
        server.received[0].image_size                             # (w, h) of the picture it was sent

The answer really looks at the picture: "A 640x480 picture, mostly red." (size and dominant colour of the
decoded data URI), so a test can check what reached the server. `content_mode` "string" answers
`message.content` as a string, "chunks" as [thinking, text, text] chunks (a reasoning model). Requests are
checked like a strict server: JSON, model, messages, parts of type text/image_url, only base64 data URIs (as
Ollama and Azure require), the object form or the string form of image_url. Auth: 401 `{"detail":
"Unauthorized"}` unless `Authorization: Bearer <api_key>`.
"""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.fakes._http_fake import ERROR_BODIES, Answer, Fault, LoopbackServer

__all__ = ["VisionServer", "VisionRequest", "Fault", "ERROR_BODIES", "describe_picture"]

_COLOURS = {"red": (255, 0, 0), "green": (0, 160, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
            "black": (0, 0, 0), "yellow": (255, 220, 0)}


@dataclass
class VisionRequest:
    at: float
    path: str
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    image_mime: str | None = None
    image_size: tuple[int, int] | None = None
    image_bytes: int = 0


def _colour_name(rgb: tuple[int, ...]) -> str:
    return min(_COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOURS[n], rgb[:3], strict=True)))


def describe_picture(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as im:
        size = im.size
        small = im.convert("RGB").resize((1, 1), Image.Resampling.BOX)
        colour = _colour_name(small.getpixel((0, 0)))  # type: ignore[arg-type]
    return f"A {size[0]}x{size[1]} picture, mostly {colour}.", size


def _validate(body: Any) -> tuple[str | None, str | None]:
    """(problem, image data URI) the way a strict server checks a chat request."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return "Field required: model", None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Field required: messages", None
    image = None
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            return "message role must be system, user or assistant", None
        content = msg.get("content")
        for part in content if isinstance(content, list) else []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind != "image_url":
                return f"unsupported content part {kind!r}", None
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
                return "Image URL is unsupported: only base64 data URIs are accepted", None
            image = url
    return (None, image) if image else ("the request has no image", None)


class VisionServer(LoopbackServer[VisionRequest]):
    def __init__(self, api_key: str | None = "sk-vision-test", content_mode: str = "string",
                 model: str = "mistral-small-2603") -> None:
        super().__init__()
        self.api_key = api_key
        self.content_mode = content_mode
        self.model = model

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = VisionRequest(time.time(), path, 0, body, lower)
        status, payload, out = self._decide(path, body, lower, record)
        record.status = status
        self._record(record)
        return status, payload, out

    def _decide(self, path: str, body: Any, headers: dict[str, str],
                record: VisionRequest) -> Answer:
        if path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}, {}
        fault = self._next_fault()
        if fault is not None:
            time.sleep(fault.delay_s)
            return fault.status, fault.body if fault.body is not None else {"detail": "injected"}, fault.headers
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Unauthorized"}, {}
        problem, uri = _validate(body)
        if problem or uri is None:
            return 422, ERROR_BODIES["fastapi"](problem or "invalid"), {}
        header, _, b64 = uri.partition(",")
        data = base64.b64decode(b64)
        record.image_mime, record.image_bytes = header[len("data:"):].split(";")[0], len(data)
        try:
            text, record.image_size = describe_picture(data)
        except Exception:
            return 400, ERROR_BODIES["documented"]("Image could not be decoded"), {}
        return 200, self._completion(text), {}

    def _completion(self, text: str) -> dict[str, Any]:
        if self.content_mode == "chunks":
            half = len(text) // 2
            content: Any = [
                {"type": "thinking", "thinking": [{"type": "text", "text": "Let me look at the colours."}]},
                {"type": "text", "text": text[:half]},
                {"type": "text", "text": text[half:]},
            ]
        else:
            content = text
        return {
            "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "tool_calls": None},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 14, "total_tokens": 826},
        }
