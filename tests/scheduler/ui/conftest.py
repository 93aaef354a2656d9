"""Fixtures of the review page's tests: a migrated database (both kinds) filled with real originals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.db import Database
from scheduler.ui.app import create_app
from scheduler.ui.settings import UiSettings
from tests.results_db import migrated_database
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings

from .helpers import Library, fill_library

LOCAL = "http://127.0.0.1:8780"  # the Host a browser on this machine sends


@pytest.fixture(params=["sqlite", "postgresql"])
def ui_db(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Database]:
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'pagemill.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    db = migrated_database(url)
    yield db
    db.dispose()


@pytest.fixture
def library(ui_db: Database, tmp_path: Path) -> Library:
    return fill_library(ui_db, FolderStore(WorkerSettings().objects_dir), tmp_path)


@pytest.fixture
def client(ui_db: Database, library: Library) -> Iterator[TestClient]:
    app = create_app(UiSettings(user="ana"), db=ui_db)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/failures") -> str:
    """The CSRF token as a browser gets it: from a form on a page."""
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
