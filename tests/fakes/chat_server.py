"""A real HTTP server on 127.0.0.1 that speaks `POST /v1/chat/completions` with `response_format: json_schema`.

    with ChatServer(api_key="sk-extract") as server:
        server.script("not json at all")                    # the next answer's content, then back to normal
        server.inject(Fault(429, headers={"Retry-After": "1"}), Fault(400, ERROR_BODIES["documented"]("...")))
        ...  # PAGEMILL_EXTRACT_BASE_URL=server.url
        server.received[0].schema                           # the json_schema.schema it was sent

Requests are checked like a strict server (422): the body must validate as the official SDK's
`ChatCompletionRequest`, with no fields that model does not know, and `response_format.json_schema` as its
`JSONSchema`. The answer honours the schema: the document text of the user messages filled into the schema
(tests/fakes/schema_answer.py), as a JSON string in `message.content`. A scripted content (`script`) is sent
as is instead: invalid JSON, JSON that breaks the schema, "" (empty), or a dict {"refusal": "..."} for a
refusal. Auth: 401 unless `Authorization: Bearer <api_key>`.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from mistralai.client import models as sdk
from pydantic import ValidationError

from tests.fakes._http_fake import ERROR_BODIES, Answer, Fault, LoopbackServer
from tests.fakes.schema_answer import fill_from_text

__all__ = ["ChatServer", "ChatRequest", "Fault", "ERROR_BODIES"]


@dataclass
class ChatRequest:
    at: float
    path: str
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    schema: dict[str, Any] | None = None
    text: str = ""  # the user messages' text, joined


def _known_fields() -> set[str]:
    names: set[str] = set()
    for name, info in sdk.ChatCompletionRequest.model_fields.items():
        names.add(info.alias or name)
    return names


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    unknown = set(body) - _known_fields()
    if unknown:
        return f"Extra inputs are not permitted: {sorted(unknown)}"
    try:
        request = sdk.ChatCompletionRequest.model_validate(body)
        fmt = body.get("response_format")
        if fmt is not None:
            sdk.ResponseFormat.model_validate(fmt)
            if fmt.get("type") == "json_schema":
                sdk.JSONSchema.model_validate(fmt.get("json_schema"))
    except ValidationError as err:
        first = err.errors()[0]
        return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    if not request.messages:
        return "messages: must not be empty"
    return None


def _user_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for msg in body.get("messages", []):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(parts)


class ChatServer(LoopbackServer[ChatRequest]):
    def __init__(self, api_key: str | None = "sk-extract-test", model: str = "mistral-small-2603") -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self._scripted: deque[Any] = deque()

    def script(self, *contents: Any) -> None:
        """The next answers' contents, in order (a dict {"refusal": ...} answers a refusal)."""
        with self._lock:
            self._scripted.extend(contents)

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = ChatRequest(time.time(), path, 0, body, lower)
        status, payload, out = self._decide(path, body, lower, record)
        record.status = status
        self._record(record)
        return status, payload, out

    def _decide(self, path: str, body: Any, headers: dict[str, str], record: ChatRequest) -> Answer:
        if path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}, {}
        fault = self._next_fault()
        if fault is not None:
            time.sleep(fault.delay_s)
            return fault.status, fault.body if fault.body is not None else {"detail": "injected"}, fault.headers
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Unauthorized"}, {}
        problem = _validate(body)
        if problem:
            return 422, ERROR_BODIES["fastapi"](problem), {}
        record.text = _user_text(body)
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        record.schema = schema
        with self._lock:
            scripted = self._scripted.popleft() if self._scripted else None
        refusal = None
        if isinstance(scripted, dict) and "refusal" in scripted:
            content, refusal = None, scripted["refusal"]
        elif scripted is not None:
            content = scripted
        elif schema is not None:
            # the document, not the schema quoted before it
            document = record.text.split("as markdown:", 1)[-1]
            content = json.dumps(fill_from_text(schema, document))
        else:
            content = "Here is what I found in the document."
        return 200, self._completion(content, refusal, len(record.text)), {}

    def _completion(self, content: str | None, refusal: str | None, prompt_chars: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": None}
        if refusal is not None:
            message["refusal"] = refusal
        completion = max(1, len(content or refusal or "") // 4)
        return {
            "id": "cmpl-x", "object": "chat.completion", "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": completion,
                      "total_tokens": max(1, prompt_chars // 4) + completion},
        }
