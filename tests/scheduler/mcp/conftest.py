"""The results database the MCP tests fill: embedded SQLite, and PostgreSQL when it is reachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    if request.param == "sqlite":
        return Database.from_settings().url
    return str(request.getfixturevalue("postgres_url"))
