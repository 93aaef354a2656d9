"""The object folder store: objects as files under one folder (the default, <data>/objects).

Writes go to a temporary name and are renamed into place, so a reader never sees half a file and a crash leaves
at most a stray temp file. On one host, or on hosts that share this folder (NFS, a volume), it needs nothing
else; hosts that share nothing but Redis and PostgreSQL need a bucket (PAGEMILL_OBJECTS_URL=s3://...).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from models.errors import ObjectMissing, StorageError, storage_error

from .store import ObjectStore, StoredObject, named_object, object_name

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["FolderStore"]

_CHUNK = 1024 * 1024


class FolderStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.url = str(self.root)
        self._ensured = False
        self._unsynced: list[Path] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, url: str, settings: WorkerSettings) -> FolderStore:
        """PAGEMILL_OBJECTS_URL as a folder path or file://PATH; unset, the data folder's objects/."""
        folder = url.removeprefix("file://")
        return cls(Path(folder).expanduser() if folder else settings.objects_dir)

    def ensure(self) -> None:
        if self._ensured:
            return
        for sub in ("originals", "images", "work", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for p in (self.root, self.root.parent):
            try:
                os.chmod(p, 0o700)
            except OSError:
                pass
        self._ensured = True

    def local_name(self, relpath: str) -> Path:
        # lexical: `..` and absolute names cannot escape, while a subfolder the admin symlinked elsewhere (another
        # disk) still works; resolve() refused those, and cost ~35 us of syscalls on every claimed range
        full = Path(os.path.normpath(self.root / relpath))
        if not full.is_relative_to(self.root):
            raise StorageError(f"refusing a path outside the object folder: {relpath!r}")
        return full

    def local_path(self, relpath: str) -> Path:
        full = self.local_name(relpath)
        if not full.is_file():
            raise self._missing(relpath)
        return full

    def _missing(self, relpath: str) -> ObjectMissing:
        return ObjectMissing(
            f"{relpath} is missing from the object folder {self.root}: it was deleted or moved outside pagemill,"
            " or this host does not share the folder it was stored in (hosts that share nothing else need"
            " PAGEMILL_OBJECTS_URL=s3://bucket/prefix); submit the file again to store it"
        )

    def read_bytes(self, relpath: str) -> bytes:
        try:
            return self.local_name(relpath).read_bytes()
        except FileNotFoundError:
            raise self._missing(relpath) from None
        except OSError as exc:
            raise StorageError(f"could not read {relpath} from {self.root}: {exc.strerror or exc}") from None

    def _commit_temp(self, tmp: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink(missing_ok=True)  # identical content already stored
            return
        os.replace(tmp, final)

    def sync(self) -> None:
        """One syncfs(2) for the whole batch on Linux (~10 ms for 256 files here, where an fsync per file cost
        ~3 ms each: intake of small files spent most of its time there); an fsync per file elsewhere."""
        with self._lock:
            pending, self._unsynced = self._unsynced, []
        if not pending:
            return
        if _syncfs(self.root):
            return
        for path in pending:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def put_file(
        self, source: Path, kind: str = "originals", ext: str | None = None, durable: bool = True
    ) -> StoredObject:
        self.ensure()
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp", prefix="in-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            sha = digest.hexdigest()
            rel = object_name(kind, sha, ext)
            self._commit_temp(tmp, self.root / rel)
            if not durable:
                with self._lock:
                    self._unsynced.append(self.root / rel)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_error(f"could not store {source.name!r}", exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredObject(sha, rel, size)

    def put_bytes(self, data: bytes, kind: str, ext: str | None) -> StoredObject:
        self.ensure()
        sha = hashlib.sha256(data).hexdigest()
        rel = object_name(kind, sha, ext)
        final = self.root / rel
        if final.exists():
            return StoredObject(sha, rel, len(data))
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp", prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self._commit_temp(Path(tmp_name), final)
        except OSError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise storage_error("could not write an object", exc) from None
        return StoredObject(sha, rel, len(data))

    def put_named(self, source: Path, name: str, replace: bool) -> bool:
        """A temp file beside the final name (same folder, so the rename is atomic), flushed to disk, then renamed
        over it (`replace`) or hard-linked to it, which fails if the name exists: no check-then-write race with
        another writer or a user's own file. The folder is created if missing (like an --out folder)."""
        final = self.root / named_object(name)
        tmp: Path | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".part")
            tmp = Path(tmp_name)
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the copy from the archive's other readers
            if replace:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    return False
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                        raise
                    # a filesystem without hard links (some network shares): checked, then renamed
                    if final.exists():
                        return False
                    os.replace(tmp, final)
            return True
        except OSError as exc:
            raise StorageError(f"could not write {name!r} into {self.root}: {exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


def _syncfs(folder: Path) -> bool:
    """syncfs(2) on the filesystem holding `folder` (Linux); False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
    except (OSError, AttributeError):
        return False
    try:
        return bool(libc.syncfs(fd) == 0)
    except AttributeError:
        return False
    finally:
        os.close(fd)
