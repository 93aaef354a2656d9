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
