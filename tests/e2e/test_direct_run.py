"""`pagemill run` of a small embedded job: direct processes forked from the command, no Celery, no broker.

Real OCR (Tesseract) through the real command in a subprocess; the faults are done to it from outside, as a user
or the kernel would: kill -9 of a direct process in the middle of a range, of the same range every time it
runs, of the command itself, and a range that runs past its time limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, Page, PageRange, RangeStatus
from scheduler.samples import make_image, make_scanned_pdf, page_text
from tests.conftest import ROOT, cer, wait_until

from ._faults import kill9

_PROBE = """
import json, sys
sys.argv = ["pagemill", *json.loads(sys.argv[1])]
from scheduler.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print("\\nPROBE " + json.dumps({"exit": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _run(args: list[str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "run", *args], env=_env(**extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _db() -> Database:
    db = Database.from_settings(DatabaseSettings())
    db.migrate()  # before the command does: the test reads the tables while it runs
    return db


def _running_holder(db: Database, range_id: int | None = None, exclude: frozenset[int] = frozenset(),
                    timeout_s: float = 60) -> int:
    """The pid of the process running a range (the given one, or any), once it has been at it a moment."""
    found: list[int] = []

    def probe() -> bool:
        query = select(PageRange.worker).where(PageRange.status == RangeStatus.running)
        if range_id is not None:
            query = query.where(PageRange.id == range_id)
        with db.read_session() as s:
            for holder in s.scalars(query):
                pid = int(str(holder).split(":")[-2])
                if pid not in exclude:
                    found.append(pid)
                    return True
        return False

    assert wait_until(probe, timeout_s, 0.05), "no range started running"
    return found[0]


def _pages(db: Database) -> tuple[int, int]:
    with db.read_session() as s:
        return (s.scalar(select(func.count()).select_from(Page)) or 0,
                s.scalar(select(func.count(func.distinct(Page.page_index)))) or 0)


def _eight_pages(tmp_path: Path) -> Path:
    return make_scanned_pdf(tmp_path / "eight.pdf", [page_text(60 + i) for i in range(8)], dpi=200)


def test_a_small_run_ocrs_in_direct_processes_and_loads_no_celery(tmp_path: Path) -> None:
    make_image(tmp_path / "note.png", page_text(50), dpi=200)
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(["run", str(tmp_path / "note.png")])],
                          env=_env(), capture_output=True, text=True, timeout=120)
    result = json.loads(proc.stdout.rpartition("\nPROBE ")[2])
    assert result["exit"] in (0, None), proc.stdout + proc.stderr
    assert not {"celery", "kombu", "httpx", "fastapi"} & set(result["modules"])
    db = _db()
    with db.read_session() as s:
        (holder,) = s.scalars(select(PageRange.worker)).all()
        (markdown,) = s.scalars(select(Page.markdown)).all()
    assert str(holder).startswith("pagemill-direct-")
    assert cer(page_text(50), markdown) < 0.05


def test_a_job_over_direct_max_pages_goes_to_celery_workers(tmp_path: Path) -> None:
    make_scanned_pdf(tmp_path / "two.pdf", [page_text(70), page_text(71)], dpi=150)
    proc = _run([str(tmp_path / "two.pdf"), "--workers", "1"], PAGEMILL_DIRECT_MAX_PAGES="1")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode(errors="replace")
    with _db().read_session() as s:
        holders = set(s.scalars(select(PageRange.worker)))
    assert holders and not any(str(h).startswith("pagemill-direct-") for h in holders)


@pytest.mark.slow
def test_kill9_of_a_direct_process_mid_range_another_takes_it_over(tmp_path: Path) -> None:
    proc = _run([str(_eight_pages(tmp_path)), "--pages-per-task", "4", "--workers", "1"])
    db = _db()
    try:
        kill9(_running_holder(db))
        out, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, out.decode(errors="replace")
    assert _pages(db) == (8, 8)  # every page once
    with db.read_session() as s:
        attempts = sorted(s.scalars(select(PageRange.attempts)))
        assert set(s.scalars(select(PageRange.status))) == {"done"}
    assert attempts == [1, 2]  # the killed range ran again, the other once


@pytest.mark.slow
def test_a_range_that_kills_its_process_every_time_fails_after_max_attempts(tmp_path: Path) -> None:
    proc = _run([str(_eight_pages(tmp_path)), "--pages-per-task", "4", "--workers", "1"], PAGEMILL_MAX_ATTEMPTS="2")
    db = _db()
    killed: set[int] = set()
    try:
        first = None
        while len(killed) < 2:
            pid = _running_holder(db, first, frozenset(killed))
            with db.read_session() as s:
                first = first or s.scalar(select(PageRange.id).where(PageRange.status == RangeStatus.running))
            kill9(pid)
            killed.add(pid)
        out, _ = proc.communicate(timeout=180)
    finally:
        proc.kill()
    text = out.decode(errors="replace")
    assert proc.returncode == 1, text
    with db.read_session() as s:
        bad = s.get(PageRange, first)
        doc = s.scalars(select(Document)).one()
    assert bad is not None and bad.status == "failed" and bad.attempts == 2
    assert "gave up after 2 attempts" in (bad.error or "")
    assert doc.status == "partial"
    assert _pages(db) == (4, 4)


@pytest.mark.slow
def test_a_range_past_its_soft_time_limit_is_failed_with_a_readable_error(tmp_path: Path) -> None:
    # soft limit = limit - 30 s = 1 s, as Celery's; four pages at 200 dpi take longer than that
    proc = _run([str(_eight_pages(tmp_path)), "--pages-per-task", "4", "--workers", "1"],
                PAGEMILL_TASK_TIME_LIMIT_S="31", PAGEMILL_MAX_ATTEMPTS="1")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, out.decode(errors="replace")
    with _db().read_session() as s:
        errors = set(s.scalars(select(PageRange.error)))
    assert any("time limit" in (e or "") for e in errors), errors


@pytest.mark.slow
@pytest.mark.parametrize("next_run", ["direct", "celery"])
def test_kill9_of_the_command_kills_its_processes_and_the_next_run_finishes_the_job(
    tmp_path: Path, next_run: str
) -> None:
    """The next run finishes the job either way; with Celery workers, the ranges the killed run never sent to a
    broker are sent at once rather than after the sweep's PAGEMILL_REQUEUE_AFTER_S (set far beyond the wait)."""
    pdf = _eight_pages(tmp_path)
    proc = _run([str(pdf), "--pages-per-task", "2"], PAGEMILL_LEASE_S="3")
    db = _db()
    try:
        child = _running_holder(db)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = datetime.now(UTC).replace(tzinfo=None)
        assert wait_until(lambda: not Path(f"/proc/{child}").exists() or "Z" in _state(child), 10, 0.05), \
            "a direct process outlived its command"
    finally:
        proc.kill()
    mode = {"PAGEMILL_DIRECT_MAX_PAGES": "0"} if next_run == "celery" else {}
    again = _run([str(pdf), "--pages-per-task", "2"], PAGEMILL_LEASE_S="3", PAGEMILL_REQUEUE_AFTER_S="600", **mode)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out.decode(errors="replace")
    assert _pages(db) == (8, 8)
    with db.read_session() as s:
        assert s.scalars(select(Document.status)).one() == "done"
        rows = s.execute(select(PageRange.worker, PageRange.started_at)).all()
    holders = {w for w, started in rows if started.replace(tzinfo=None) > killed_at}  # the next run's
    assert holders and all(str(h).startswith("pagemill-direct-") == (next_run == "direct") for h in holders)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
