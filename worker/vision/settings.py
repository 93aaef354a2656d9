"""Vision settings, from `PAGEMILL_VISION_...` environment variables. Vision is on when a base URL is set."""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VisionSettings", "DEFAULT_VISION_MODEL", "DEFAULT_PROMPT", "DEFAULT_MAX_SIDE", "DEFAULT_MIN_SIZE"]

# a `-latest` alias follows Mistral's current vision model: never a retired id
DEFAULT_VISION_MODEL = "mistral-small-latest"
DEFAULT_PROMPT = (
    "Describe this image in one to three short factual sentences, suitable as alt text: what it shows, "
    "and any visible title, labels or key figures. Do not guess beyond what is visible."
)
DEFAULT_MAX_SIDE = 1540  # the input size of Mistral's current vision models: more pixels only cost tokens
DEFAULT_MIN_SIZE = 100
_OFFICIAL_HOST = "api.mistral.ai"


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_VISION_", extra="ignore")

    base_url: str | None = None  # e.g. https://api.mistral.ai, http://127.0.0.1:11434 (Ollama)
    # PAGEMILL_VISION_API_KEY; MISTRAL_API_KEY is used only for Mistral's own host (effective_key)
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("PAGEMILL_VISION_API_KEY"))
    model: str = DEFAULT_VISION_MODEL
    prompt: str = DEFAULT_PROMPT
    min_size: int = DEFAULT_MIN_SIZE  # extracted images smaller than this on either side are not described
    max_side: int = DEFAULT_MAX_SIDE
    max_image_mb: float = 10.0
    max_tokens: int | None = 300
    temperature: float | None = 0.2
    timeout_s: float = 120.0
    rate_limit: float = 1.0  # requests per second, across every worker (its own limiter keys: "vision")
    max_inflight: int = 4
    max_attempts: int = 4
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0

    @field_validator("base_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    def effective_key(self, mistral_key: SecretStr | None = None) -> SecretStr | None:
        """The key to send. MISTRAL_API_KEY is a fallback for api.mistral.ai only: it must never be sent to
        another server the user pointed vision at."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key
        if mistral_key is not None and _OFFICIAL_HOST == (urlparse(self.base_url or "").hostname or ""):
            return mistral_key
        return None
