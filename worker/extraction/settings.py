"""Extraction settings, from `PAGEMILL_EXTRACT_...` environment variables, falling back to the vision step's.

    PAGEMILL_EXTRACT_BASE_URL   else PAGEMILL_VISION_BASE_URL, else https://api.mistral.ai
    PAGEMILL_EXTRACT_MODEL      else PAGEMILL_VISION_MODEL when the server is the vision one, else mistral-small-latest
    PAGEMILL_EXTRACT_API_KEY    else PAGEMILL_VISION_API_KEY when the server is the vision one, else
                                MISTRAL_API_KEY for api.mistral.ai only (a key is never sent to another server)

When the extraction server is the vision server, both share the "vision" rate limiter keys (one server, one
limit); otherwise extraction has keys of its own ("extract").
"""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..http_api import api_base_url
from ..vision.settings import VisionSettings

__all__ = ["ExtractSettings", "DEFAULT_EXTRACT_MODEL", "DEFAULT_INSTRUCTIONS", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.mistral.ai"
DEFAULT_EXTRACT_MODEL = "mistral-small-latest"  # a `-latest` alias: never a retired id
DEFAULT_INSTRUCTIONS = (
    "You extract structured fields from one document. Answer with a single JSON object that matches the "
    "given JSON schema, using only what the document says. Where the document does not give a value, use "
    "null if the schema allows it, and never invent one. Numbers are plain JSON numbers (no currency signs or "
    "thousands separators); dates are ISO 8601 (YYYY-MM-DD) unless the schema says otherwise."
)
_OFFICIAL_HOST = "api.mistral.ai"


class ExtractSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_EXTRACT_", extra="ignore")

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    prompt: str | None = None  # added to the instructions (pagemill extract --prompt, run --extract-prompt)
    # the document text sent per request, in characters; a longer document sends the pages chosen by
    # prompt.py (its first pages, then the pages that mention the schema's fields) and says so in the row's note
    max_chars: int = 200_000
    max_tokens: int | None = 4000
    temperature: float | None = 0.0
    strict: bool = True  # json_schema.strict: servers that refuse strict schemas answer 400; set 0 for those
    # USD per million tokens, to put a cost on the ledger's extract rows (unset: tokens only, cost NULL)
    price_per_million_input_tokens: float | None = None
    price_per_million_output_tokens: float | None = None
    timeout_s: float = 180.0
    rate_limit: float = 1.0  # requests per second across every worker (shared with vision on the same server)
    max_inflight: int = 4
    max_attempts: int = 4
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0

    @field_validator("base_url", "model")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def _vision(self) -> VisionSettings:
        return VisionSettings()

    @property
    def effective_base_url(self) -> str:
        return self.base_url or self._vision().base_url or DEFAULT_BASE_URL

    def same_server_as_vision(self) -> bool:
        vision = self._vision().base_url
        return vision is not None and api_base_url(vision) == api_base_url(self.effective_base_url)

    @property
    def effective_model(self) -> str:
        if self.model:
            return self.model
        return self._vision().model if self.same_server_as_vision() else DEFAULT_EXTRACT_MODEL

    @property
    def limiter_name(self) -> str:
        return "vision" if self.same_server_as_vision() else "extract"

    def effective_key(self, mistral_key: SecretStr | None = None) -> SecretStr | None:
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key
        if self.same_server_as_vision():
            key = self._vision().effective_key(mistral_key)
            if key is not None:
                return key
        if mistral_key is not None and urlparse(self.effective_base_url).hostname == _OFFICIAL_HOST:
            return mistral_key
        return None

    def cost_usd(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        pin, pout = self.price_per_million_input_tokens, self.price_per_million_output_tokens
        if pin is None and pout is None:
            return None
        return ((prompt_tokens or 0) * (pin or 0.0) + (completion_tokens or 0) * (pout or 0.0)) / 1e6
