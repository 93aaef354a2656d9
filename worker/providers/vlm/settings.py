"""VLM provider settings, from `PAGEMILL_VLM_...` environment variables (docs/settings.md lists each one).

The server is any OpenAI-compatible `/v1/chat/completions` (vLLM, SGLang, Ollama, LM Studio, Mistral's chat
API). Nothing here has a default that reaches the network on its own: PAGEMILL_PROVIDER=vlm without
PAGEMILL_VLM_BASE_URL stops the command with what to set.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VlmSettings", "DEFAULT_VLM_MODEL"]

DEFAULT_VLM_MODEL = "allenai/olmOCR-2-7B-1025-FP8"


class VlmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_VLM_", extra="ignore")

    base_url: str | None = None  # e.g. http://127.0.0.1:8000 (vLLM), http://127.0.0.1:11434 (Ollama)
    model: str = DEFAULT_VLM_MODEL
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("PAGEMILL_VLM_API_KEY"))
    # olmocr | dots | deepseek | markdown; unset: chosen from the model name (profiles/__init__.py)
    profile: str | None = None
    prompt: str | None = None  # replaces the profile's prompt (the generic markdown profile's especially)
    max_inflight: int = 16  # pages in flight at once, across every worker (inference servers batch them)
    rate_limit: float = 0.0  # requests per second across every worker; 0 = no pacing, only MAX_INFLIGHT
    max_tokens: int | None = None  # unset: the profile's (8000 olmOCR, 16384 dots, 8192 DeepSeek, 8000 markdown)
    timeout_s: float = 300.0  # one page's request
    max_attempts: int = 4  # tries per page for a bad answer (cut off, looping, empty, wrong format, rotated)
    image_format: str = "png"  # png | jpeg: how the rendered page is encoded in the data URI
    image_url_form: str = "object"  # object: {"url": "data:..."}; string: "data:..." (Mistral accepts both)
    blank_threshold: float = 0.002  # a page with fewer than this share of ink pixels is blank and never sent
    fallback: str = "auto"  # auto (text layer, else the local engine) | text_layer | local | none
    price_per_million_input_tokens: float = 0.0
    price_per_million_output_tokens: float = 0.0

    @field_validator("base_url", "profile", "prompt")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("fallback")
    @classmethod
    def _known_fallback(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("auto", "text_layer", "local", "none"):
            raise ValueError(f"unknown VLM fallback {value!r}; choose auto, text_layer, local or none")
        return value

    @field_validator("image_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        value = value.strip().lower().replace("jpg", "jpeg")
        if value not in ("png", "jpeg"):
            raise ValueError(f"unknown VLM image format {value!r}; choose png or jpeg")
        return value

    @field_validator("image_url_form")
    @classmethod
    def _known_form(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("object", "string"):
            raise ValueError(f"unknown image_url form {value!r}; choose object or string")
        return value

    def document_options(self) -> dict[str, object]:
        """What decides a page's text with this provider (dedup compares a hash of it, with the worker's)."""
        return {"vlm_model": self.model, "vlm_base_url": self.base_url, "vlm_profile": self.profile,
                "vlm_prompt": self.prompt, "vlm_max_tokens": self.max_tokens, "vlm_fallback": self.fallback}

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_per_million_input_tokens
                + completion_tokens * self.price_per_million_output_tokens) / 1e6
