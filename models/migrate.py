"""Run Alembic migrations on start, safely when several processes start at once.

Every command migrates on start, and loading Alembic's machinery costs a read-only command about 0.3 s. So the
revision stored in the database is compared first with the head of the versions folder, read from the scripts'
`revision` / `down_revision` lines as text: when they are equal there is nothing to do and Alembic is never
imported. Anything else (an older or newer revision, no table yet, branches, a script this reader cannot
parse) goes through Alembic as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from .engine import READONLY

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["alembic_config", "upgrade_to_head", "script_head", "stored_revisions"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# arbitrary constant: every pagemill process agrees on it, so only one runs migrations at a time
_PG_LOCK_ID = 0x70616765
# `revision = "0003"` or `revision: str = '0003'` at the start of a line, as Alembic's templates write them
_REVISION = re.compile(r"""^revision\s*(?::[^=\n]*)?=\s*['"]([^'"\n]+)['"]""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision\s*(?::[^=\n]*)?=\s*(.+)$""", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"\n]+)['"]""")


def script_head(versions: Path = _MIGRATIONS / "versions") -> str | None:
    """The single head revision of the migration scripts, or None when it cannot be told from their text
    (several heads, a script without a plain `revision = "..."` line): Alembic decides then."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        down = _DOWN_REVISION.search(source)
        if found is None or down is None:
            return None
        revisions.add(found.group(1))
        parents.update(_QUOTED.findall(down.group(1)))  # None, "0002", or a tuple for a merge
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revisions(engine: Engine) -> set[str] | None:
    """The revisions in the database's `alembic_version` table; None when there is no such table yet."""
    # a deferred BEGIN on SQLite (models/engine.py): reading the version must not wait for the write lock
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        try:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        except DBAPIError:
            return None


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if engine is not None:
        # configparser treats % as interpolation: URL-encoded passwords and options must be escaped
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: Engine) -> None:
    head = script_head()
    if head is not None and stored_revisions(engine) == {head}:
        return  # the schema is current: the common case of every command's start
    from alembic import command

    cfg = alembic_config(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_ID})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_ID})
                conn.commit()
