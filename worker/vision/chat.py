"""The `/v1/chat/completions` request and response for describing one image.

The image goes inline as a data URI in the object form `{"type": "image_url", "image_url": {"url": ...}}`:
OpenAI's schema accepts only that form, Mistral accepts both, and some servers (Ollama) take no remote URLs.
The answer's `choices[0].message.content` is a string, null, or a list of chunks (a reasoning model sends
`thinking` chunks before its `text`): the text chunks are joined and everything else is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.errors import MalformedResponse

__all__ = ["Description", "chat_request", "parse_chat_response", "content_text"]


@dataclass(frozen=True)
class Description:
    text: str
    model: str | None  # as the server reported it (informational), else the model asked for
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def chat_request(
    model: str, prompt: str, image_uri: str, max_tokens: int | None = None, temperature: float | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": image_uri}},
                ],
            }
        ],
    }
    # optional fields only when set, so strict servers see nothing they do not know
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    return body


def content_text(content: Any) -> str:
    """The text of a message's content: a string as is, text chunks of a list joined, thinking dropped."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        parts: list[str] = []
        for chunk in content:
            if isinstance(chunk, str):
                parts.append(chunk)
            elif isinstance(chunk, Mapping) and chunk.get("type") == "text":
                if isinstance(chunk.get("text"), str):
                    parts.append(chunk["text"])
        return "".join(parts).strip()
    raise MalformedResponse(f"the vision server's message content is a {type(content).__name__}")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_chat_response(body: bytes, model_asked: str) -> Description:
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"the vision server sent a body that is not JSON ({len(body)} bytes)") from None
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse("the vision server's response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise MalformedResponse("the vision server's first choice has no message")
    text = content_text(message.get("content"))
    if not text:
        reason = choices[0].get("finish_reason")
        raise MalformedResponse(f"the vision model returned no text (finish_reason {reason!r})")
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    model = data.get("model") if isinstance(data.get("model"), str) and data.get("model") else model_asked
    return Description(text, model, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
