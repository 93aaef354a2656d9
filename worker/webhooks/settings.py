"""Webhook settings, all from `PAGEMILL_WEBHOOK_...` environment variables (docs/settings.md, docs/webhooks.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebhookSettings"]


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_WEBHOOK_", extra="ignore")

    # a deployment's subscription, kept in step with these three (worker/webhooks/subscriptions.py)
    url: str | None = None
    secret: SecretStr | None = None  # whsec_...; unset with a URL: refused (events are always signed)
    events: str | None = None  # comma-separated event types; unset: all
    # loopback, private, link-local and metadata addresses are refused as targets unless this is set
    allow_private: bool = False
    retry_for_s: float = 86400.0  # how long a delivery is retried before it is `failed`
    retry_base_s: float = 5.0  # the first retry's delay; doubled each time, with jitter
    retry_max_s: float = 3600.0  # the longest delay between two tries
    connect_timeout_s: float = 5.0
    timeout_s: float = 15.0  # reading the answer
    # requests at once, to different documents (one document's events always go one after the other)
    concurrency: int = Field(default=16, ge=1, le=256)
    poll_s: float = 1.0  # how often a deliverer looks for events to send
    # how long events are kept once every delivery of theirs is delivered or disabled (failed ones stay)
    keep_s: float = 604800.0
