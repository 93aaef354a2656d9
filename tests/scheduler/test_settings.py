"""Scheduler settings: how many pages a range holds, by provider, unless the user says."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import PageRange
from scheduler.launch.submit import submit
from scheduler.settings import SchedulerSettings
from tests.e2e._faults import make_pdf


def planned_ranges(job_document: int) -> list[list[int]]:
    db = Database.from_settings(DatabaseSettings())
    with db.read_session() as s:
        return [list(r) for r in s.scalars(select(PageRange.pages).where(PageRange.document_id == job_document)
                                           .order_by(PageRange.seq))]


def test_the_local_engine_plans_ranges_of_two_pages_so_a_few_documents_spread_over_every_core(
    data_dir: Path, tmp_path: Path
) -> None:
    job = submit([make_pdf(tmp_path / "five.pdf", 5)], wait=False, start_workers=False)
    assert planned_ranges(job.document_ids[0]) == [[0, 1], [2, 3], [4]]


def test_pages_per_task_set_by_the_user_wins(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_PAGES_PER_TASK", "4")
    job = submit([make_pdf(tmp_path / "five.pdf", 5)], wait=False, start_workers=False)
    assert planned_ranges(job.document_ids[0]) == [[0, 1, 2, 3], [4]]
    assert SchedulerSettings().task_pages("mistral") == 4


def test_an_api_range_is_one_request_of_eight_pages() -> None:
    assert SchedulerSettings().task_pages("mistral") == 8
    assert SchedulerSettings().task_pages("vlm") == 8
    assert SchedulerSettings().task_pages("local") == 2
