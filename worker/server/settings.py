"""Settings of `pagemill serve`, from `PAGEMILL_SERVE_...` environment variables (the CLI options win)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.settings import DEFAULT_DATA_DIR

__all__ = ["ServerSettings", "MAX_DOCUMENT_BYTES", "MAX_DOCUMENT_PAGES"]

# the limits of the real API (basic_ocr.md FAQ): one request reads at most 50 MB and 1000 pages
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_DOCUMENT_PAGES = 1000
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # the Files API's own limit


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_SERVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0  # 0: one OCR process per core
    api_key: SecretStr | None = None
    max_queue: int = 64  # requests waiting for the pool beyond those being read; more get 429
    strict: bool = False  # reject unknown request fields with 422, as the real API's schema says
    files_dir: Path | None = None  # unset: <PAGEMILL_DATA_DIR>/serve-files
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    max_document_pages: int = MAX_DOCUMENT_PAGES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    lang: str = "eng"
    tessdata: str | None = None
    dpi: int = 300

    @property
    def pool_size(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    def resolved_files_dir(self) -> Path:
        if self.files_dir is not None:
            return self.files_dir
        data_dir = Path(os.environ.get("PAGEMILL_DATA_DIR", str(DEFAULT_DATA_DIR)))
        return data_dir / "serve-files"
