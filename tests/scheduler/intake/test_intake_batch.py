"""Intake in batches: every file gets its one result, new and known content alike, and an intake killed at
any point leaves nothing half-registered; a second run completes it."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, DocumentName, JobDocument, PageRange
from models.tables import Job as JobRow
from scheduler.intake.batch import IntakeProgress, intake_files
from scheduler.intake.types import IntakeOptions
from tests.conftest import ROOT
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def _png(path: Path, n: int) -> Path:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("n", str(n))  # every file different content
    Image.new("L", (24, 24), color=n % 256).save(path, pnginfo=info)
    return path


def _folder(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        _png(root / f"f{n:05d}.png", n)
    return root


def _db(data_dir: Path) -> Database:
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    return db


def test_a_batch_mixes_new_known_repeated_and_bad_files(data_dir: Path, tmp_path: Path) -> None:
    src = _folder(tmp_path / "in", 600)
    (src / "zz-copy-of-7.png").write_bytes((src / "f00007.png").read_bytes())  # repeated within the batch
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("not a document")
    db, objects, settings = _db(data_dir), FolderStore(data_dir / "objects"), WorkerSettings()
    files = sorted(src.iterdir())
    sent: list[list[int]] = []
    seen: list[IntakeProgress] = []
    first = intake_files(db, objects, files, settings, IntakeOptions(), None, sent.append, seen.append,
                         batch_files=128)
    by_name = {r.filename: r for r in first.results}
    assert len(first.results) == len(files) and not first.unreadable
    assert by_name["f00007.png"].outcome == "queued"
    assert by_name["zz-copy-of-7.png"].outcome == "duplicate"
    assert by_name["zz-copy-of-7.png"].document_id == by_name["f00007.png"].document_id
    assert (by_name["empty.png"].outcome, by_name["notes.txt"].outcome) == ("failed", "failed")
    assert "empty" in (by_name["empty.png"].note or "") and "unsupported" in (by_name["notes.txt"].note or "")
    assert len(sent) == 5  # one send per batch of 128
    queued_ids = sorted(rid for r in first.results for rid in r.range_ids)
    assert sorted(rid for batch in sent for rid in batch if rid in set(queued_ids)) == queued_ids
    assert (seen[-1].registered, seen[-1].duplicates, seen[-1].failed) == (600, 1, 2)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 602
        assert s.scalar(select(func.count()).select_from(PageRange)) == 600
        assert s.scalar(select(func.count()).select_from(DocumentName)) == 603  # every name it arrived under
    # a second intake of the same files: all known, nothing planned again, queued ranges sent again
    with db.write_session() as s:
        job = JobRow(kind="submit", options={})
        s.add(job)
        s.flush()
        job_id = job.id
    resent: list[list[int]] = []
    again = intake_files(db, objects, files, settings, IntakeOptions(), job_id, resent.append, None,
                         batch_files=128)
    assert {r.outcome for r in again.results if r.filename not in ("empty.png", "notes.txt")} == {"duplicate"}
    assert sorted(rid for batch in resent for rid in batch) == queued_ids  # each once
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(PageRange)) == 600
        assert s.scalar(select(func.count()).select_from(JobDocument).where(JobDocument.job_id == job_id)) == 602


def _messages(data_dir: Path) -> set[int]:
    """Range ids with a message waiting in the embedded broker."""
    con = sqlite3.connect(data_dir / "broker.sqlite")
    try:
        payloads = [row[0] for row in con.execute("SELECT payload FROM kombu_message WHERE visible = 1")]
    finally:
        con.close()
    ids = set()
    for payload in payloads:
        headers = json.loads(payload)["headers"]
        ids.add(int(headers["argsrepr"].strip("()[],")))
    return ids


@pytest.mark.slow
def _wait_for_documents(data_dir: Path, deadline: float) -> int:
    """Documents registered so far, polled until there is one (0 when the deadline passes first)."""
    while time.monotonic() < deadline:
        db = Database.from_settings(DatabaseSettings(data_dir=data_dir))  # no migration: submit makes the schema
        try:
            with db.read_session() as s:
                found = s.scalar(select(func.count()).select_from(Document)) or 0
        except OperationalError:
            found = 0  # the schema is still being created
        finally:
            db.dispose()
        if found:
            return found
        time.sleep(0.05)
    return 0


def test_intake_killed_at_random_points_is_completed_by_a_second_run(data_dir: Path, tmp_path: Path) -> None:
    count = 2500
    src = _folder(tmp_path / "in", count)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PAGEMILL_INTAKE_BATCH_FILES="100")
    rng = random.Random(24)
    killed_with_documents = []
    for signum in (signal.SIGKILL, signal.SIGKILL, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "submit", str(src)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db_file = data_dir / "pagemill.sqlite"
        deadline = time.monotonic() + 60
        while not db_file.exists() and time.monotonic() < deadline:  # started: its database exists
            time.sleep(0.05)
        assert db_file.exists(), f"pagemill submit never created {db_file} within 60 s"
        # killed once registering has begun, however loaded the machine is (a fixed delay after the database
        # appeared killed every run before its first document on a busy machine), at a random point after that
        registered = _wait_for_documents(data_dir, deadline)
        assert registered, f"pagemill submit registered no document within 60 s of starting ({proc.poll()=})"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signum)
        proc.wait(60)
        db = _db(data_dir)
        with db.read_session() as s:
            docs = s.scalar(select(func.count()).select_from(Document)) or 0
            # never half-registered: every document has its range (these are one-page files), and every
            # document row its name
            assert s.scalar(select(func.count()).select_from(PageRange)) == docs
            assert s.scalar(select(func.count(func.distinct(DocumentName.document_id)))) == docs
        db.dispose()
        killed_with_documents.append(docs)
    assert any(0 < n < count for n in killed_with_documents), killed_with_documents  # really cut mid-intake
    done = subprocess.run([sys.executable, "-m", "scheduler.cli", "submit", str(src)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    db = _db(data_dir)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == count
        range_ids = set(s.scalars(select(PageRange.id)))
        assert len(range_ids) == count
        paths = list(s.scalars(select(Document.object_path)))
    assert range_ids <= _messages(data_dir)  # every range has a message: the workers will see all of them
    objects = FolderStore(data_dir / "objects")
    assert all(objects.read_bytes(p).startswith(PNG_HEAD) for p in paths)
