"""Batch mode end to end: `pagemill run --batch` and `submit --batch --wait` as real processes against the loopback
Files/Batch API, killed with SIGKILL after the upload, after the job's creation and while polling, then started
again: no range is uploaded twice, no job is created twice, every page is stored and billed once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from models import Database, DatabaseSettings
from models.tables import BatchJob, Document, Page, Usage
from scheduler.cli import app
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, page_text
from scheduler.sweep.batch_poller import batch_tick
from tests.conftest import wait_until
from tests.fakes.batch_server import BatchServer
from worker.settings import WorkerSettings

KEY = "sk-test-batch-e2e-77"
PAGES = 12


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchServer]:
    with BatchServer(api_key=KEY, queue_s=0.5, run_s=1.0) as srv:
        for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": srv.url, "MISTRAL_API_KEY": KEY,
                     "PAGEMILL_BATCH_POLL_MIN_S": "0.2", "PAGEMILL_BATCH_POLL_MAX_S": "0.5",
                     "PAGEMILL_EMBEDDED_WORKERS": "1",
                     # jobs are formed by submit when its intake is over, not by its sweeper halfway through
                     "PAGEMILL_BATCH_MAX_WAIT_S": "600"}.items():
            monkeypatch.setenv(k, v)
        yield srv


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    make_born_digital_pdf(folder / "a.pdf", [page_text(i) for i in range(PAGES // 2)])
    make_born_digital_pdf(folder / "b.pdf", [page_text(50 + i) for i in range(PAGES // 2)])
    return folder


def _cli(*args: str, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", *args], env=dict(os.environ), stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _assert_once(server: BatchServer) -> None:
    db = _db()
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == PAGES
        assert s.scalar(select(func.count(func.distinct(Page.document_id * 10000 + Page.page_index)))) == PAGES
        assert s.scalar(select(func.sum(Usage.pages_processed))) == PAGES  # billed once per page
        assert set(s.scalars(select(Usage.billing))) == {"batch"}
        assert set(s.scalars(select(Document.status))) == {"done"}
    ids = server.uploaded_custom_ids()
    assert len(ids) == len(set(ids)), "a range was uploaded twice"
    assert len(server.jobs) == 1, "a job was created twice"
    assert server.billed_pages == PAGES


def test_run_batch_from_the_command_line(tmp_path: Path, server: BatchServer) -> None:
    folder = _folder(tmp_path)
    done = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--batch", "--pages-per-task", "4",
                           str(folder)], env=dict(os.environ), capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert not [c for c in server.calls if c[1] == "/v1/ocr"]
    _assert_once(server)
    status = CliRunner().invoke(app, ["status"])
    row = next(line for line in status.output.splitlines() if "SUCCESS" in line)
    assert "batch jobs" in status.output
    assert row.split("│")[4].strip() == "4"  # requests: 6 + 6 pages at 4 per range
    assert "stored" in row
    # a synchronous run beside it: `pagemill usage` shows the two rates apart
    other = make_born_digital_pdf(tmp_path / "c.pdf", [page_text(90), page_text(91)])
    sync = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", str(other)], env=dict(os.environ),
                          capture_output=True, timeout=180)
    assert sync.returncode == 0, sync.stderr.decode()[-3000:]
    usage = CliRunner().invoke(app, ["usage", "--by", "billing"])
    assert usage.exit_code == 0, usage.output
    assert "by rate: sync 2 pages $0.0080; batch 12 pages $0.0240" in " ".join(usage.output.split())


@pytest.mark.parametrize("point", ["after the upload", "after the create", "while polling"])
def test_kill_9_then_start_again(tmp_path: Path, server: BatchServer, point: str) -> None:
    folder = _folder(tmp_path)
    log = tmp_path / "cli.log"
    hold = {"after the upload": "POST /v1/files", "after the create": "POST /v1/batch/jobs",
            "while polling": "GET /v1/batch/jobs/{id}"}[point]
    server.hold_answers[hold] = 30.0
    first = _cli("submit", "--batch", "--wait", str(folder), log=log)
    try:
        reached = {"after the upload": lambda: len(server.uploads) == 1,
                   "after the create": lambda: len(server.jobs) == 1,
                   "while polling": lambda: any(c[0] == "GET" and c[1].startswith("/v1/batch/jobs/")
                                                for c in server.calls) or bool(server.jobs and not
                                                                               server.hold_answers)}[point]
        assert wait_until(reached, timeout_s=60), log.read_text(errors="replace")[-3000:]
        if point == "while polling":
            time.sleep(0.3)  # the poll is under way, its answer held back
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    server.hold_answers.clear()
    second = _cli("submit", "--batch", "--wait", str(folder), log=log)
    try:
        assert second.wait(40) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    _assert_once(server)


def test_cancel_cancels_the_job_of_cancelled_documents(tmp_path: Path, server: BatchServer) -> None:
    server.queue_s = 60  # the job stays QUEUED
    pdf = make_born_digital_pdf(tmp_path / "a.pdf", [page_text(i) for i in range(4)])
    job = submit([pdf], batch=True)
    (remote,) = server.jobs.values()
    out = CliRunner().invoke(app, ["cancel", str(job.document_ids[0])])
    assert out.exit_code == 0, out.output
    assert f"({remote.id}): CANCELLATION_REQUESTED" in out.output
    db = _db()
    assert wait_until(lambda: (batch_tick(db, WorkerSettings()), _status(db))[1] == "CANCELLED", timeout_s=20)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 0
        assert s.scalar(select(Document.status)) == "cancelled"
        assert s.scalar(select(BatchJob.collected_at)) is not None


def _status(db: Database) -> str | None:
    with db.read_session() as s:
        return s.scalar(select(BatchJob.status))
