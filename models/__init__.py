"""The results database: tables, engine/session setup, migrations and the error codes stored in it."""

from .db import Database, make_engine
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
