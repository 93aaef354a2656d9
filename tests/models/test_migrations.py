"""The Alembic migrations build exactly the tables, columns and indexes that models/tables.py declares, on both
databases (the full-text search objects of 0002 are the migrations' own and are left out of the comparison)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models.tables import Base
from tests.results_db import migrated_database


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    if type_ == "table" and reflected and name not in Base.metadata.tables:
        return False  # FTS5 tables and their shadow tables (SQLite)
    # the generated tsvector column and its GIN index (PostgreSQL)
    return not (type_ in ("column", "index") and reflected and name and "search_vector" in name)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = migrated_database(url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _declared})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()
