"""The migration check that spares every command Alembic's machinery: the head read from the scripts' text."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from models.db import Database
from models.migrate import alembic_config, script_head, stored_revisions


def test_the_head_read_from_the_scripts_is_alembics_head() -> None:
    assert [script_head()] == ScriptDirectory.from_config(alembic_config()).get_heads()


def _script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(f'"""{name}"""\n{body}\n\ndef upgrade() -> None:\n    pass\n')


def test_typed_revisions_and_merges_are_read_and_two_heads_are_left_to_alembic(tmp_path: Path) -> None:
    _script(tmp_path, "a.py", 'revision: str = "a1"\ndown_revision: str | None = None')
    _script(tmp_path, "b.py", "revision = 'b2'\ndown_revision = 'a1'")
    _script(tmp_path, "c.py", 'revision = "c3"\ndown_revision = "a1"')
    assert script_head(tmp_path) is None  # b2 and c3: two heads
    _script(tmp_path, "d.py", 'revision = "d4"\ndown_revision = ("b2", "c3")')
    assert script_head(tmp_path) == "d4"
    (tmp_path / "e.py").write_text("# no revision line\n")
    assert script_head(tmp_path) is None


def test_a_new_database_has_no_revision_until_migrated_then_the_head(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert stored_revisions(db.engine) is None
    db.migrate()
    assert stored_revisions(db.engine) == {script_head()}
    db.migrate()  # the fast path: nothing to do
    assert stored_revisions(db.engine) == {script_head()}
    db.dispose()
