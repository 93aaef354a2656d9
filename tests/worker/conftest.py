"""Fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models import Database
from tests.results_db import migrated_database


@pytest.fixture(params=["sqlite", "postgresql"])
def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated results database: the test runs on SQLite, then on PostgreSQL (skipped when it is absent)."""
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url"
    )
    database = migrated_database(url)
    yield database
    database.dispose()
