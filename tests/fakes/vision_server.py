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
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from tests.fakes.mistral_server import ERROR_BODIES, Fault

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload, headers = self.server.owner.answer(self.path, raw, dict(self.headers))
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: VisionServer


class VisionServer:
    def __init__(self, api_key: str | None = "sk-vision-test", content_mode: str = "string",
                 model: str = "mistral-small-2603") -> None:
        self.api_key = api_key
        self.content_mode = content_mode
        self.model = model
        self.received: list[VisionRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> VisionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.received]

    def answer(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = VisionRequest(time.time(), path, 0, body, lower)
        status, payload, out = self._decide(path, body, lower, record)
        record.status = status
        with self._lock:
            self.received.append(record)
        return status, payload, out

    def _decide(self, path: str, body: Any, headers: dict[str, str],
                record: VisionRequest) -> tuple[int, Any, dict[str, str]]:
        if path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}, {}
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
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
        except Exception:  # noqa: BLE001 - the real API answers 400 for an unreadable image
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
