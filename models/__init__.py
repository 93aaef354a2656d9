"""The results database: tables, engine/session setup, migrations and the error codes stored in it; `outbox.py`
writes webhook events in the transaction of the change they report; `archive.py` is the state of each
document's archived searchable PDF (--archive).

The names below load on first use (PEP 562): `from models.errors import ...` must not pull in SQLAlchemy,
so that commands which never touch the database (`pagemill --help`) start fast."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .db import Database
    from .engine import make_engine
    from .errors import ErrorCode, PagemillError
    from .settings import DEFAULT_DATA_DIR, DatabaseSettings
    from .tables import (
        Base,
        DocStatus,
        Document,
        DocumentName,
        Image,
        Job,
        JobDocument,
        Page,
        PageRange,
        RangeStatus,
        Usage,
    )

__all__ = [
    "Base",
    "DEFAULT_DATA_DIR",
    "Database",
    "DatabaseSettings",
    "DocStatus",
    "Document",
    "DocumentName",
    "ErrorCode",
    "Image",
    "Job",
    "JobDocument",
    "Page",
    "PageRange",
    "PagemillError",
    "RangeStatus",
    "Usage",
    "make_engine",
]

_HOME = {
    "Database": "db", "make_engine": "engine", "ErrorCode": "errors", "PagemillError": "errors",
    "DEFAULT_DATA_DIR": "settings", "DatabaseSettings": "settings",
    **{name: "tables" for name in ("Base", "DocStatus", "Document", "DocumentName", "Image", "Job", "JobDocument",
                                   "Page", "PageRange", "RangeStatus", "Usage")},
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    # bound after the import, which binds a submodule of the same name (scheduler.launch.submit) over it
    globals()[name] = value
    return value
