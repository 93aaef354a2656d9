"""`POST {PAGEMILL_EXTRACT_BASE_URL}/v1/chat/completions` with `response_format: json_schema`: one answer.

    client = ExtractClient.from_settings(ExtractSettings(), mistral_key, limiter)
    answer = client.complete(messages, schema)          # Answer(text, model, tokens, ...); raises on HTTP errors

The connection, the key (never in a message or a log), the shared rate limiter (a 429 pauses every worker for
its Retry-After) and the HTTP error mapping are worker/http_api.py's, as for the vision step; reading the
message content (string or chunks, thinking dropped) is worker/vision/chat.py's. What is left here is the
request body and what an answer that is not an answer looks like (a refusal, a cut-off answer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from models.errors import MalformedResponse

from ..http_api import BearerApiClient, ServerErrors
from ..vision.chat import content_text
from .schema import ExtractionSchema, response_format
from .settings import ExtractSettings

if TYPE_CHECKING:
    from ..ratelimit.limiter import RateLimiter

__all__ = ["Answer", "ExtractClient", "EXTRACT_ERRORS", "chat_body"]

CHAT_PATH = "/v1/chat/completions"
EXTRACT_ERRORS = ServerErrors("extraction server", "check PAGEMILL_EXTRACT_API_KEY")


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None


def chat_body(
    model: str, messages: list[dict[str, Any]], schema: ExtractionSchema, strict: bool,
    max_tokens: int | None, temperature: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "response_format": response_format(schema, strict)}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    return body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_answer(body: bytes, model_asked: str) -> tuple[Answer, str | None]:
    """The answer and, when it is not one, why (a refusal, an answer cut at max_tokens): the caller records the
    tokens either way, since they were billed."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedResponse(f"the extraction server sent a body that is not JSON ({len(body)} bytes)") from None
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse("the extraction server's response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise MalformedResponse("the extraction server's first choice has no message")
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    model = data.get("model") if isinstance(data.get("model"), str) and data.get("model") else model_asked
    text = content_text(message.get("content"))
    answer = Answer(text, model, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
    refusal = message.get("refusal")
    reason = choices[0].get("finish_reason")
    if isinstance(refusal, str) and refusal.strip():
        return answer, f"the model refused: {' '.join(refusal.split())[:300]}"
    if reason in ("length", "model_length"):
        return answer, (f"the answer was cut off at the token limit (finish_reason {reason!r}; "
                        "PAGEMILL_EXTRACT_MAX_TOKENS)")
    if reason == "content_filter":
        return answer, "the answer was withheld by the server's content filter"
    return answer, None


class ExtractClient:
    name = "extract"

    def __init__(
        self, base_url: str, model: str, api_key: SecretStr | str | None = None, timeout_s: float = 180.0,
        limiter: RateLimiter | None = None, strict: bool = True, max_tokens: int | None = None,
        temperature: float | None = None, client: httpx.Client | None = None,
    ) -> None:
        self.model = model
        self.strict = strict
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._api = BearerApiClient(base_url, api_key, EXTRACT_ERRORS, timeout_s, limiter, client,
                                    proportional_429=False)

    def __repr__(self) -> str:
        return f"ExtractClient(base_url={self._api.base_url!r}, model={self.model!r})"

    @property
    def base_url(self) -> str:
        return self._api.base_url

    @classmethod
    def from_settings(cls, settings: ExtractSettings, mistral_key: SecretStr | None = None,
                      limiter: RateLimiter | None = None) -> ExtractClient:
        return cls(settings.effective_base_url, settings.effective_model, settings.effective_key(mistral_key),
                   settings.timeout_s, limiter, settings.strict, settings.max_tokens, settings.temperature)

    def complete(self, messages: list[dict[str, Any]], schema: ExtractionSchema) -> tuple[Answer, str | None]:
        """One request; HTTP failures raise the errors of models/errors.py (the caller retries)."""
        headers = self._api.headers()
        body = chat_body(self.model, messages, schema, self.strict, self.max_tokens, self.temperature)
        response = self._api.send(CHAT_PATH, json.dumps(body).encode(), headers)
        return parse_answer(response.content, self.model)

    def close(self) -> None:
        self._api.close()

