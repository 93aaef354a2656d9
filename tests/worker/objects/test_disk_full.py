"""A full disk on one host (issue 39's soak: host-b's cache of originals on a full tmpfs failed its ranges for
good, "could not keep a copy ... No space left on device", though space came back a minute later): a write that
fails for want of space is `DiskFull`, retryable, with the OS's reason in its message, and the same call works
once space returns. A real full filesystem (a small tmpfs), since root ignores permissions; skipped without
root or `mount`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.errors import DiskFull, ErrorCode
from worker.objects.folder import FolderStore
from worker.objects.registry import object_store
from worker.objects.s3 import S3Store
from worker.settings import WorkerSettings


class FullDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / ".filler"

    def fill(self) -> None:
        with open(self.filler, "ab", buffering=0) as out:
            for size in (1 << 16, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError:
                    pass
        st = os.statvfs(self.root)
        assert st.f_bavail == 0, "the tmpfs is not full"

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[FullDisk]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a full disk stops root; permissions do not)")
    root = tmp_path / "small"
    root.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs failed here: {done.stderr.strip()}")
    try:
        yield FullDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_object_folder_is_disk_full_retryable_and_works_once_space_returns(
    small_disk: FullDisk, tmp_path: Path
) -> None:
    store = FolderStore(small_disk.root / "objects")
    store.ensure()
    src = tmp_path / "scan.pdf"
    src.write_bytes(os.urandom(200_000))
    small_disk.fill()
    with pytest.raises(DiskFull) as caught:
        store.put_file(src)
    err = caught.value
    assert err.retryable and err.code == ErrorCode.disk_full
    assert "scan.pdf" in err.message and "No space left on device" in err.message
    assert not list((small_disk.root / "objects").rglob("*.pdf"))  # no half object left behind
    small_disk.free()
    stored = store.put_file(src)
    assert store.local_path(stored.relpath).read_bytes() == src.read_bytes()


def test_a_full_cache_of_originals_on_another_host_is_disk_full_then_works(
    s3_objects: str, small_disk: FullDisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "scan.pdf"
    src.write_bytes(os.urandom(300_000))
    stored = object_store(WorkerSettings()).put_file(src)  # intake on host 1
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(small_disk.root / "host2"))  # host 2's data on the small disk
    other = object_store(WorkerSettings())
    assert isinstance(other, S3Store)
    (small_disk.root / "host2").mkdir()
    small_disk.fill()
    with pytest.raises(DiskFull) as caught:
        other.local_path(stored.relpath)
    assert caught.value.retryable and "No space left on device" in caught.value.message
    assert "on this host" in caught.value.message
    small_disk.free()
    assert other.local_path(stored.relpath).read_bytes() == src.read_bytes()


def test_a_range_on_a_host_whose_disk_is_full_waits_without_spending_attempts_then_is_done(
    s3_objects: str, small_disk: FullDisk, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from models.tables import Page, PageRange
    from tests.worker.objects.test_object_faults import CountingProvider, _db, _document, _submit
    from worker.ranges.run import run_range

    db = _db(data_dir)
    doc_id, range_id = _submit(db, object_store(WorkerSettings()), tmp_path)
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(small_disk.root / "worker-host"))
    worker_objects = object_store(WorkerSettings())
    (small_disk.root / "worker-host").mkdir()
    small_disk.fill()
    provider = CountingProvider()
    for _ in range(3):  # more tries than max_attempts: none is spent while the disk is full
        outcome = run_range(db, worker_objects, provider, range_id, max_attempts=2, retry_max_s=0.1)
        assert outcome.status == "retry", outcome
    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        assert rng is not None
        assert (rng.status, rng.attempts, rng.error_code) == ("queued", 0, "disk_full")
        assert "No space left on device" in (rng.error or "")
    assert provider.calls == 0  # nothing sent (or billed) before the original was on this host
    small_disk.free()
    assert run_range(db, worker_objects, provider, range_id, max_attempts=2).status == "done"
    assert _document(db, doc_id).status == "done" and provider.calls == 1
    with db.read_session() as s:
        assert s.scalar(select(Page.markdown).where(Page.document_id == doc_id)).startswith("text of page 0")
