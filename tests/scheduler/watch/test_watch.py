"""The watched folder: every complete file dropped in becomes a document exactly once.

A real watcher thread on a real folder, with the embedded broker and no workers: each test checks the rows
a user would find in `documents`, `document_names` and `page_ranges` (OCR itself is covered end to end in
test_watch_cli.py)."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, DocumentName, PageRange
from scheduler.intake.register import IntakeResult
from scheduler.watch.after import AfterIntake
from scheduler.watch.folder import FolderWatcher, WatchOptions, needs_polling
from scheduler.watch.start import start_configured_watchers
from tests.conftest import wait_until
from worker.settings import WorkerSettings

Taken = tuple[float, Path]  # when a file was registered, and its path


def png_bytes(seed: int, size: int = 24) -> bytes:
    """A small valid PNG, different for every seed."""
    img = Image.new("L", (size, size), color=255)
    img.putpixel((seed % size, (seed // size) % size), seed % 200)
    img.putpixel((0, 0), (seed * 7) % 256)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def fresh_producer(settings: WorkerSettings) -> None:
    """Point the Celery app at this test's broker (configure() drops the cached producer pools itself)."""
    from worker.tasks.app import app, configure

    configure(app, settings)


@contextmanager
def watching(folder: Path, **opts: object) -> Iterator[tuple[FolderWatcher, Database, list[Taken]]]:
    """A watcher thread on `folder` until the block ends; yields it, the database and (time, path) of each
    registration."""
    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    fresh_producer(settings)
    taken: list[Taken] = []

    def on_queued(path: Path, _result: IntakeResult) -> None:
        taken.append((time.time(), path))

    options = WatchOptions(**{"settle_s": 0.5, **opts})  # type: ignore[arg-type]
    stop = threading.Event()
    watcher = FolderWatcher(folder, db, settings, options, stop, on_queued=on_queued)
    watcher.start()
    assert watcher.ready.wait(20), "the watcher did not finish its startup scan"
    try:
        yield watcher, db, taken
    finally:
        stop.set()
        watcher.join(15)
        db.dispose()
    assert not watcher.is_alive()


def rescanned_and_idle(watcher: FolderWatcher, scans: int = 2, timeout_s: float = 30) -> bool:
    """The watcher read the whole folder `scans` more times and holds nothing waiting to settle: anything it
    would take again (a duplicate event, a rescan, a file it should ignore) it has taken by now."""
    start = watcher.scans
    return wait_until(lambda: watcher.scans >= start + scans and len(watcher.tracker) == 0, timeout_s)


def count(db: Database, model: type, *where: object) -> int:
    with db.read_session() as s:
        query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(s.scalar(query) or 0)


def names(db: Database) -> list[str]:
    with db.read_session() as s:
        return sorted(s.scalars(select(DocumentName.filename)))


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    p = tmp_path / "inbox"
    p.mkdir()
    return p


def test_a_file_written_in_ten_chunks_is_taken_once_after_the_last_chunk(
    inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pagemill.watch")
    data = png_bytes(1, size=400)
    with watching(inbox, settle_s=1.0, rescan_interval_s=0.5) as (watcher, db, taken):
        with open(inbox / "scan.png", "wb") as fh:
            step = len(data) // 10 + 1
            for i in range(10):
                fh.write(data[i * step:(i + 1) * step])
                fh.flush()
                os.fsync(fh.fileno())
                time.sleep(0.3)
        last_write = time.time()
        assert wait_until(lambda: count(db, Document) == 1, 30)
        assert rescanned_and_idle(watcher)
        assert len(taken) == 1
        assert caplog.text.count("scan.png is stable") == 1  # read and hashed once, not again at each rescan
        assert taken[0][0] >= last_write
        with db.read_session() as s:
            doc = s.scalars(select(Document)).one()
        assert doc.size_bytes == len(data) and doc.status == "queued" and doc.page_count == 1
        assert count(db, PageRange) == 1


def test_files_present_before_start_are_processed(inbox: Path) -> None:
    (inbox / "sub").mkdir()
    (inbox / "old.png").write_bytes(png_bytes(2))
    (inbox / "sub" / "older.png").write_bytes(png_bytes(3))
    with watching(inbox) as (_, db, _taken):
        assert wait_until(lambda: count(db, Document) == 2, 30)
        assert names(db) == ["old.png", "older.png"]


def test_a_file_renamed_into_the_folder_is_taken(inbox: Path, tmp_path: Path) -> None:
    outside = tmp_path / "staging.png"
    outside.write_bytes(png_bytes(4))
    with watching(inbox) as (_, db, _taken):
        os.rename(outside, inbox / "moved-in.png")
        assert wait_until(lambda: count(db, Document) == 1, 30)
        assert names(db) == ["moved-in.png"]


def test_nested_folders_are_recorded_as_the_collection(inbox: Path, tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    (batch / "2024").mkdir(parents=True)
    (batch / "2024" / "b.png").write_bytes(png_bytes(6))
    with watching(inbox) as (_, db, _taken):
        (inbox / "invoices").mkdir()
        (inbox / "invoices" / "a.png").write_bytes(png_bytes(5))
        (inbox / "top.png").write_bytes(png_bytes(7))
        os.rename(batch, inbox / "batch")  # a whole folder moved in at once
        assert wait_until(lambda: count(db, Document) == 3, 30)
        with db.read_session() as s:
            docs = {d.filename: d.collection for d in s.scalars(select(Document))}
            name_rows = {n.filename: n.collection for n in s.scalars(select(DocumentName))}
    assert docs == {"a.png": "invoices", "b.png": "batch/2024", "top.png": None}
    assert name_rows == docs


def test_ignored_names_are_never_taken(inbox: Path) -> None:
    junk = [
        ".hidden.png", "._resource.png", "scan.png.part", "scan.filepart", "page.crdownload", "x.tmp",
        "~$report.png", ".DS_Store", "Thumbs.db", "desktop.ini", "@eaDir/thumb.png", "__MACOSX/a.png",
        ".git/blob.png", "notes.bak",
    ]
    with watching(inbox, ignore=("*.bak",), rescan_interval_s=0.5) as (watcher, db, _taken):
        for i, name in enumerate(junk):
            (inbox / name).parent.mkdir(parents=True, exist_ok=True)
            (inbox / name).write_bytes(png_bytes(100 + i))
        (inbox / "real.png").write_bytes(png_bytes(99))
        assert wait_until(lambda: count(db, Document) >= 1, 30)
        assert rescanned_and_idle(watcher)
        assert names(db) == ["real.png"]


def test_symlinks_escaping_the_folder_are_not_followed(inbox: Path, tmp_path: Path) -> None:
    secret = tmp_path / "private"
    secret.mkdir()
    (secret / "secret.png").write_bytes(png_bytes(8))
    (secret / "deep.png").write_bytes(png_bytes(9))
    (inbox / "inside.png").write_bytes(png_bytes(10))
    with watching(inbox, rescan_interval_s=0.5) as (watcher, db, _taken):
        os.symlink(secret / "secret.png", inbox / "link.png")
        os.symlink(secret, inbox / "linked-folder")
        (inbox / "after.png").write_bytes(png_bytes(11))
        assert wait_until(lambda: count(db, Document) >= 2, 30)
        assert rescanned_and_idle(watcher)
        assert names(db) == ["after.png", "inside.png"]


def test_a_file_deleted_while_settling_is_not_taken(inbox: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pagemill.watch")
    with watching(inbox, settle_s=2.0) as (_, db, _taken):
        (inbox / "gone.png").write_bytes(png_bytes(12))
        assert wait_until(lambda: "arrived: gone.png" in caplog.text, 10)
        (inbox / "gone.png").unlink()
        (inbox / "stays.png").write_bytes(png_bytes(13))
        assert wait_until(lambda: count(db, Document) == 1, 30)
        assert names(db) == ["stays.png"]
    assert "gone.png went away while settling" in caplog.text


def test_the_same_bytes_under_two_names_make_one_document_with_both_names(inbox: Path) -> None:
    data = png_bytes(14)
    with watching(inbox) as (_, db, _taken):
        (inbox / "a").mkdir()
        (inbox / "a" / "original.png").write_bytes(data)
        (inbox / "copy of original.png").write_bytes(data)
        assert wait_until(lambda: count(db, DocumentName) == 2, 30)
        assert count(db, Document) == 1
        assert count(db, PageRange) == 1  # one OCR
        with db.read_session() as s:
            rows = {n.filename: n.collection for n in s.scalars(select(DocumentName))}
        assert rows == {"original.png": "a", "copy of original.png": None}


def test_touching_resaving_and_rescans_queue_nothing_new(
    inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pagemill.watch")
    data = png_bytes(15)
    path = inbox / "doc.png"
    with watching(inbox, rescan_interval_s=1.0) as (watcher, db, taken):
        path.write_bytes(data)
        assert wait_until(lambda: count(db, Document) == 1, 30)
        os.utime(path)  # touch
        time.sleep(0.2)
        path.write_bytes(data)  # re-save the same bytes
        assert wait_until(lambda: "content is unchanged" in caplog.text, 30)
        assert rescanned_and_idle(watcher)
        assert len(taken) == 1
        assert count(db, PageRange) == 1 and count(db, DocumentName) == 1
        path.write_bytes(png_bytes(16))  # new content under the same name is a new document
        assert wait_until(lambda: count(db, Document) == 2, 30)
        assert count(db, PageRange) == 2


def test_after_move_puts_a_failed_file_in_failed_with_the_reason(inbox: Path) -> None:
    with watching(inbox, after=AfterIntake.move, rescan_interval_s=0.5) as (watcher, db, _taken):
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
        (inbox / "waiting.png").write_bytes(png_bytes(17))  # queued, never done here: stays in place
        assert wait_until(lambda: (inbox / "failed" / "broken.pdf").exists(), 30)
        assert rescanned_and_idle(watcher)
    reason = (inbox / "failed" / "broken.pdf.error.txt").read_text()
    assert "broken.pdf: failed" in reason and "pagemill status" in reason
    assert not (inbox / "broken.pdf").exists()
    assert (inbox / "waiting.png").exists()
    assert count(db, Document) == 2  # the moved file was not taken again from failed/


def test_three_hundred_files_dropped_at_once_are_each_enqueued_exactly_once(
    inbox: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    queue = f"pagemill-watch-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("PAGEMILL_BROKER_URL", redis_url)
    monkeypatch.setenv("PAGEMILL_QUEUE", queue)
    blobs = [png_bytes(1000 + i, size=48) for i in range(300)]
    client = redis.Redis.from_url(redis_url)
    try:
        with watching(inbox, rescan_interval_s=1.0) as (watcher, db, taken):
            for i, blob in enumerate(blobs):
                (inbox / f"f{i:03d}.png").write_bytes(blob)
            assert wait_until(lambda: count(db, Document) == 300, 120)
            assert rescanned_and_idle(watcher, timeout_s=60)  # rescans and any late duplicate events
            assert len(taken) == 300
            assert count(db, Document) == count(db, PageRange) == count(db, DocumentName) == 300
            assert client.llen(queue) == 300
    finally:
        client.delete(queue)
        client.close()
        fresh_producer(WorkerSettings(broker_url=None))


def test_scheduler_watches_the_folders_named_in_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `pagemill scheduler` calls: PAGEMILL_WATCH_DIRS, comma-separated, one watcher thread each."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv("PAGEMILL_WATCH_DIRS", f"{a}, {b}")
    monkeypatch.setenv("PAGEMILL_WATCH_SETTLE_S", "0.3")
    (a / "one.png").write_bytes(png_bytes(30))
    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir))
    db.migrate()
    fresh_producer(settings)
    stop = threading.Event()
    threads = start_configured_watchers(db, settings, stop)
    try:
        assert len(threads) == 2
        assert all(t.ready.wait(20) for t in threads)
        (b / "two.png").write_bytes(png_bytes(31))
        assert wait_until(lambda: names(db) == ["one.png", "two.png"], 30)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        db.dispose()
    assert not any(t.is_alive() for t in threads)


def test_polling_mode_takes_files_while_others_keep_arriving(inbox: Path) -> None:
    """A busy folder must not keep earlier, complete files waiting."""
    with watching(inbox, polling=True, poll_delay_ms=200) as (_, db, taken):
        (inbox / "sub").mkdir()
        for i in range(16):
            (inbox / "sub" / f"polled-{i:02d}.png").write_bytes(png_bytes(40 + i))
            time.sleep(0.25)
        last_written = time.time()
        assert wait_until(lambda: count(db, Document) == 16, 30)
        assert min(t for t, _ in taken) < last_written


def test_network_mounts_are_polled(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path / 'nfs'} nfs4 rw 0 0\n"
    )
    (tmp_path / "nfs" / "inbox").mkdir(parents=True)
    assert needs_polling(tmp_path / "nfs" / "inbox", mounts)
    assert not needs_polling(tmp_path, mounts)
