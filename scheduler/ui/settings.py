"""Settings of `pagemill ui`, from `PAGEMILL_UI_...` environment variables (the CLI options win)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["UiSettings", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_UI_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8780
    # required for any bind beyond loopback; sent as the `pagemill_ui_token` cookie (set by /login) or as
    # `Authorization: Bearer TOKEN`
    token: SecretStr | None = None
    user: str | None = None  # the name corrections are recorded under (default: the OS user)
    # a request header that names the person (set it only behind a proxy that sets it, e.g. X-Forwarded-User)
    user_header: str | None = None
    # re-OCR choices: "label=queue,label=queue"; a worker with that provider listens on each queue
    reocr_queues: str = ""
    page_size: int = 50
    image_dpi: int = 150  # rendered page images: enough for small print at a laptop's width

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def queues(self, default_queue: str) -> dict[str, str]:
        """Re-OCR choices, label -> Celery queue; always offers the default queue's workers."""
        choices = {"default workers": default_queue}
        for part in self.reocr_queues.split(","):
            label, sep, queue = part.partition("=")
            if sep and label.strip() and queue.strip():
                choices[label.strip()] = queue.strip()
        return choices
