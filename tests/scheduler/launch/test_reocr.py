"""Re-OCR of one page: an ordinary one-page range on a chosen queue; the worker's output arrives beside the
current text, which stays until a person chooses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models.corrections import choose_version, pending_versions
from models.db import Database
from models.errors import ConfigError
from models.tables import Document, Page, PageRange
from scheduler.launch.reocr import queue_page_again
from tests.fakes.instant_provider import InstantProvider
from tests.results_db import migrated_database
from tests.scheduler.ui.helpers import fill_library
from worker.objects.folder import FolderStore
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


@pytest.fixture(params=["sqlite", "postgresql"])
def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    db = migrated_database(url)
    yield db
    db.dispose()


def test_a_page_ocrd_again_arrives_beside_its_text(both_databases: Database, tmp_path: Path) -> None:
    db = both_databases
    settings = WorkerSettings()
    objects = FolderStore(settings.objects_dir)
    lib = fill_library(db, objects, tmp_path)

    range_id = queue_page_again(db, settings, lib.letters, 1, "pagemill", author="ana")
    with pytest.raises(ConfigError, match="already queued"):
        queue_page_again(db, settings, lib.letters, 1, "pagemill", author="ana")
    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        assert rng is not None and rng.pages == [1] and rng.status == "queued"
        assert s.get(Document, lib.letters).status == "queued"

    outcome = run_range(db, objects, InstantProvider(), range_id)  # a worker of that queue takes it

    assert outcome.status == "done"
    with db.read_session() as s:
        page = s.scalar(select(Page).where(Page.document_id == lib.letters, Page.page_index == 1))
        assert page is not None and page.markdown == "Yours sincerely, the committee"
        assert s.get(Document, lib.letters).status == "done"
    (new,) = pending_versions(db, lib.letters, 1)
    assert new.markdown.startswith("text of page 1") and new.source == "mistral"

    choose_version(db, new.id, author="ana")
    with db.read_session() as s:
        assert s.scalar(select(Page.source).where(Page.document_id == lib.letters, Page.page_index == 1)) == "mistral"
