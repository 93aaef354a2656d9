"""What every table module builds on: the declarative base, the JSON column type and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Base", "JsonDocument", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class JsonDocument(TypeDecorator[Any]):
    """JSON; jsonb on PostgreSQL. JSON().with_variant(JSONB(), "postgresql") would do the same, but importing the
    PostgreSQL dialect package (every one of its drivers' modules) cost a read-only command on SQLite 30-50 ms:
    here it loads only when a PostgreSQL connection compiles the type."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[int]: JSON, list[str]: JSON, list[dict[str, Any]]: JSON,
                           list[Any]: JSON}
