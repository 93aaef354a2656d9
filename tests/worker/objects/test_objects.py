"""The object folder: a stored relpath names a file inside it, whatever the database says."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import StorageError
from worker.objects.folder import FolderStore


def test_a_stored_object_is_found_by_its_relpath(tmp_path: Path) -> None:
    objects = FolderStore(tmp_path / "objects")
    objects.ensure()
    stored = objects.put_bytes(b"%PDF-1.4 scan", "originals", "pdf")
    assert objects.local_path(stored.relpath).read_bytes() == b"%PDF-1.4 scan"
    assert objects.local_path(stored.relpath).is_relative_to(objects.root)


@pytest.mark.parametrize("relpath", ["../outside.pdf", "originals/../../outside.pdf", "/etc/passwd", "images/../.."])
def test_a_relpath_that_leaves_the_folder_is_refused(tmp_path: Path, relpath: str) -> None:
    objects = FolderStore(tmp_path / "objects")
    objects.ensure()
    (tmp_path / "outside.pdf").write_bytes(b"not yours")
    with pytest.raises(StorageError, match="outside the object folder"):
        objects.local_path(relpath)


def test_a_subfolder_symlinked_to_another_disk_still_works(tmp_path: Path) -> None:
    elsewhere = tmp_path / "big-disk" / "originals"
    elsewhere.mkdir(parents=True)
    root = tmp_path / "objects"
    root.mkdir()
    (root / "originals").symlink_to(elsewhere, target_is_directory=True)
    objects = FolderStore(root)
    stored = objects.put_bytes(b"%PDF-1.4 big", "originals", "pdf")
    assert (elsewhere / stored.relpath.removeprefix("originals/")).read_bytes() == b"%PDF-1.4 big"
    assert objects.local_path(stored.relpath).read_bytes() == b"%PDF-1.4 big"
