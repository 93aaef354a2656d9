"""Database settings: where the results live."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATA_DIR", "DatabaseSettings"]

DEFAULT_DATA_DIR = Path("pagemill-data")


class DatabaseSettings(BaseSettings):
    """`PAGEMILL_DATABASE_URL` wins; otherwise an SQLite file inside `PAGEMILL_DATA_DIR`."""

    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    sqlite_busy_timeout_ms: int = 30_000

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pagemill.sqlite').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")
