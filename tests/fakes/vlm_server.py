"""A real HTTP server on 127.0.0.1 that plays a vision-language OCR model behind `POST /v1/chat/completions`.

    with VlmServer(profile="olmocr") as server:
        server.script("rotated", "loop")          # the next answers: a rotated page, then a loop
        server.inject(Fault(429, headers={"Retry-After": "1"}))   # an HTTP failure first
        ...  # PAGEMILL_VLM_BASE_URL=server.url
        server.received[0].image_size              # (w, h) of the page image it was sent

Every request is validated with the `openai` SDK's own request type (CompletionCreateParamsNonStreaming, through
pydantic) as a strict OpenAI-compatible server would, after the string form of `image_url` (which Mistral
accepts) is noted and put in the object form; the image must be a base64 data URI that decodes. A bad request
gets a 422 with the validation error.

Answers are in each profile's real format (`profile`: olmocr front matter + markdown, dots JSON layout, DeepSeek
grounding tags on the 0-999 grid, plain markdown), with boxes in pixels of the image received: a title, a
paragraph, a table and a figure. Scripted behaviours (`script(...)`, taken one per request in arrival order):
"ok", "cut_off" (finish_reason length), "loop" (a line repeated until the limit), "rotated" (olmOCR's
is_rotation_valid false, rotation_correction 90), "empty", "refusal", "wrong_format" (prose, no structure),
"hostile" (a script tag and an event handler in the markdown), "chunks" (content as a list of chunks).
Usage: prompt tokens from the image's pixels (one per 28x28 patch), completion tokens a quarter of the text.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydantic import TypeAdapter, ValidationError

from tests.fakes._http_fake import ERROR_BODIES, Answer, Fault, LoopbackServer

__all__ = ["VlmServer", "VlmRequest", "Fault", "answer_text", "PARAGRAPH"]

PARAGRAPH = "The committee met on the third of May and approved the budget for the coming year."
_ADAPTER: TypeAdapter[Any] | None = None
_ADAPTER_LOCK = threading.Lock()


def _adapter() -> TypeAdapter[Any]:
    global _ADAPTER
    with _ADAPTER_LOCK:
        if _ADAPTER is None:
            from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

            _ADAPTER = TypeAdapter(CompletionCreateParamsNonStreaming)
        return _ADAPTER


@dataclass
class VlmRequest:
    at: float
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    image_form: str | None = None  # "object" or "string"
    image_size: tuple[int, int] | None = None
    image_mime: str | None = None
    temperature: float | None = None
    behaviour: str | None = None


def _validate(body: Any) -> tuple[str | None, str | None, str | None]:
    """(problem, data URI, form of image_url)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object", None, None
    uri, form = None, None
    for msg in body.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                value = part.get("image_url")
                if isinstance(value, str):  # Mistral's string form: checked as the object form
                    form, part["image_url"] = "string", {"url": value}
                else:
                    form = "object"
                uri = part["image_url"].get("url") if isinstance(part["image_url"], dict) else None
    try:
        checked = _adapter().validate_python(body)
        for msg in checked["messages"]:
            if not isinstance(msg.get("content"), str | None):
                list(msg["content"])  # iterables are validated lazily
    except ValidationError as exc:
        return f"invalid request: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}", None, None
    if not isinstance(uri, str) or not uri.startswith("data:image/") or ";base64," not in uri:
        return "only base64 data URIs are accepted", None, None
    return None, uri, form


def answer_text(profile: str, behaviour: str, w: int, h: int) -> tuple[str, str]:
    """(content, finish_reason) for one request."""
    if behaviour == "cut_off":
        return answer_text(profile, "ok", w, h)[0][: 60], "length"
    if behaviour == "loop":
        return "Total amount due\n" + "| | | | |\n" * 400, "stop"
    if behaviour == "empty":
        return "", "stop"
    if behaviour == "refusal":
        return "I'm sorry, but I can't help with transcribing this document.", "stop"
    if behaviour == "wrong_format":
        return "This page appears to be a committee report about a budget.", "stop"
    table_html = "<table><tr><th>Item</th><th>Cost</th></tr><tr><td>Paper</td><td>12</td></tr></table>"
    extra = ' <img src=x onerror="alert(1)"><script>steal()</script>' if behaviour == "hostile" else ""
    fig = (int(w * 0.1), int(h * 0.6), int(w * 0.5), int(h * 0.8))
    if profile == "olmocr":
        rotated = behaviour == "rotated"
        front = ("---\nprimary_language: en\n"
                 f"is_rotation_valid: {'false' if rotated else 'true'}\n"
                 f"rotation_correction: {90 if rotated else 0}\nis_table: true\nis_diagram: false\n---\n")
        body = (f"# Annual report\n\n{PARAGRAPH}{extra}\n\n{table_html}\n\n"
                f"![A bar chart](page_{fig[0]}_{fig[1]}_{fig[2] - fig[0]}_{fig[3] - fig[1]}.png)\n")
        return front + body, "stop"
    if profile == "dots":
        items = [
            {"bbox": [int(w * 0.1), int(h * 0.05), int(w * 0.9), int(h * 0.1)], "category": "Title",
             "text": "Annual report"},
            {"bbox": [int(w * 0.1), int(h * 0.12), int(w * 0.9), int(h * 0.3)], "category": "Text",
             "text": PARAGRAPH + extra},
            {"bbox": [int(w * 0.1), int(h * 0.32), int(w * 0.9), int(h * 0.5)], "category": "Table",
             "text": table_html},
            {"bbox": list(fig), "category": "Picture"},
            {"bbox": [int(w * 0.45), int(h * 0.95), int(w * 0.55), int(h * 0.98)], "category": "Page-footer",
             "text": "3"},
        ]
        return json.dumps(items), "stop"
    if profile == "deepseek":
        def g(x0: float, y0: float, x1: float, y1: float) -> str:
            return f"[[{int(x0 * 999)}, {int(y0 * 999)}, {int(x1 * 999)}, {int(y1 * 999)}]]"
        return (f"<|ref|>title<|/ref|><|det|>{g(.1, .05, .9, .1)}<|/det|>\n# Annual report\n\n"
                f"<|ref|>text<|/ref|><|det|>{g(.1, .12, .9, .3)}<|/det|>\n{PARAGRAPH}{extra}\n\n"
                f"<|ref|>table<|/ref|><|det|>{g(.1, .32, .9, .5)}<|/det|>\n{table_html}\n\n"
                f"<|ref|>image<|/ref|><|det|>{g(.1, .6, .5, .8)}<|/det|>\n\n"
                f"<|ref|>image_caption<|/ref|><|det|>{g(.1, .81, .5, .85)}<|/det|>\nFigure 1: costs\n"), "stop"
    return (f"# Annual report\n\n{PARAGRAPH}{extra}\n\n| Item | Cost |\n|---|---|\n| Paper | 12 |\n"), "stop"


class VlmServer(LoopbackServer[VlmRequest]):
    def __init__(self, profile: str = "olmocr", api_key: str | None = "sk-vlm-test",
                 model: str = "allenai/olmOCR-2-7B-1025-FP8", delay_s: float = 0.0) -> None:
        super().__init__()
        self.profile = profile
        self.api_key = api_key
        self.model = model
        self.delay_s = delay_s
        self._script: deque[str] = deque()

    def script(self, *behaviours: str) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def _behaviour(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else "ok"

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = VlmRequest(time.time(), 0, body, lower)
        status, payload, out = self._decide(path, body, lower, record)
        record.status = status
        self._record(record)
        return status, payload, out

    def _decide(self, path: str, body: Any, headers: dict[str, str], record: VlmRequest) -> Answer:
        if path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}, {}
        fault = self._next_fault()
        if fault is not None:
            time.sleep(fault.delay_s)
            return fault.status, fault.body if fault.body is not None else {"detail": "injected"}, fault.headers
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Unauthorized"}, {}
        problem, uri, form = _validate(body)
        if problem or uri is None:
            return 422, ERROR_BODIES["fastapi"](problem or "invalid"), {}
        header, _, b64 = uri.partition(",")
        try:
            with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
                im.load()
                record.image_size = im.size
        except Exception:
            return 400, ERROR_BODIES["documented"]("Image could not be decoded"), {}
        record.image_form, record.image_mime = form, header[len("data:"):].split(";")[0]
        record.temperature = body.get("temperature")
        behaviour = record.behaviour = self._behaviour()
        if self.delay_s:
            time.sleep(self.delay_s)
        w, h = record.image_size
        text, finish = answer_text(self.profile, behaviour, w, h)
        content: Any = text
        if behaviour == "chunks":
            content = [{"type": "thinking", "thinking": [{"type": "text", "text": "Reading the page."}]},
                       {"type": "text", "text": text[: len(text) // 2]}, {"type": "text", "text": text[len(text) // 2:]}]
        return 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": (w // 28) * (h // 28), "completion_tokens": len(text) // 4,
                      "total_tokens": (w // 28) * (h // 28) + len(text) // 4},
        }, {}
