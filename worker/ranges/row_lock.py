"""Where SQLite and PostgreSQL differ in the pipeline's writes: how a writer keeps others off a row it reads.

SQLite has one writer at a time: every read-then-write transaction starts with BEGIN IMMEDIATE under the
writer lock (models/db.py), so a row read in it cannot change before the write. PostgreSQL runs writers at once
and needs a row lock: `SELECT ... FOR NO KEY UPDATE`. It serialises writers of the row like FOR UPDATE, but does
not conflict with the KEY SHARE locks that inserting pages/images/usage takes on their document and range through
the foreign keys. With FOR UPDATE, two ranges of one document storing at once deadlock: each holds KEY SHARE on
the document from its page inserts and waits for the other's to lock it in finish_document.

Both are spelled by one option: SQLAlchemy renders it on PostgreSQL and leaves it out on SQLite.
"""

from __future__ import annotations

__all__ = ["ROW_LOCK"]

ROW_LOCK = {"key_share": True}  # with_for_update(**ROW_LOCK)
