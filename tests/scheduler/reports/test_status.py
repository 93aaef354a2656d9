"""`pagemill status`: totals first (documents and pages by state, pages/s, ETA), then failing and latest rows;
`status job:N` for one job; the same figures on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Page
from scheduler.cli import app
from scheduler.intake.batch import intake_files
from scheduler.intake.types import IntakeOptions
from scheduler.reports.totals import totals
from scheduler.samples import make_image
from tests.fakes.instant_provider import InstantProvider
from tests.results_db import migrated_database
from worker.objects.folder import FolderStore
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


def _fill(db: Database, objects: FolderStore, tmp_path: Path) -> list[int]:
    src = tmp_path / "in"
    src.mkdir()
    for n in range(5):
        make_image(src / f"scan-{n}.png", f"page {n}", dpi=60)
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    from models.tables import Job as JobRow

    with db.write_session() as s:
        job = JobRow(kind="submit", options={})
        s.add(job)
        s.flush()
        job_id = job.id
    out = intake_files(db, objects, sorted(src.iterdir()), WorkerSettings(), IntakeOptions(), job_id, lambda ids: None)
    ranges = sorted(rid for r in out.results for rid in r.range_ids)
    for rid in ranges[:3]:  # three of five done, two still queued
        assert run_range(db, objects, InstantProvider(), rid).status == "done"
    return [job_id]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'results.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    return migrated_database(url)


def test_totals_count_documents_and_pages_by_state_and_the_recent_rate(db: Database, tmp_path: Path) -> None:
    [job_id] = _fill(db, FolderStore(tmp_path / "objects"), tmp_path)
    t = totals(db)
    assert t.documents == {"done": 3, "queued": 2, "failed": 1}
    assert t.pages == {"done": 3, "queued": 2}
    assert t.pages_recent == 3 and t.pages_pending == 2
    assert t.eta_s == pytest.approx(2 / (3 / 300))
    assert totals(db, job_id).documents == t.documents
    # pages stored long ago do not count towards the rate; with none recent the ETA is unknown
    with db.write_session() as s:
        s.execute(update(Page).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    later = totals(db)
    assert later.pages_recent == 0 and later.eta_s is None
    db.dispose()


def test_the_status_command_starts_with_totals(data_dir: Path, tmp_path: Path) -> None:
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    [job_id] = _fill(db, FolderStore(data_dir / "objects"), tmp_path)
    runner = CliRunner()
    out = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "all documents"
    assert lines[1].split() == ["documents", "6:", "queued", "2,", "done", "3,", "failed", "1"]
    assert "5 planned: queued 2, done 3" in lines[2]
    assert "0.01 pages/s over the last 5 minutes; 2 pages to go, ETA 3 min" in lines[3]
    failing = out.output.index("failing documents")
    assert "broken.pdf" in out.output[failing:out.output.index("latest documents")]
    one_job = runner.invoke(app, ["status", f"job:{job_id}"], env={"COLUMNS": "200"})
    assert one_job.exit_code == 0 and one_job.output.startswith(f"job {job_id} (submit)")
    missing = runner.invoke(app, ["status", "job:999"])
    assert missing.exit_code == 3 and "no job 999" in missing.output
    queued = runner.invoke(app, ["status", "--state", "queued"], env={"COLUMNS": "200"})
    assert queued.output.count("scan-") == 2
