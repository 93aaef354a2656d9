"""The object store's interface: originals, decrypted working copies and extracted images, content-addressed.

This module is below the stores: they import it, it imports none of them. Which store a mode uses is chosen by
PAGEMILL_OBJECTS_URL in one place, `object_store(settings)` in worker/objects/registry.py:

    unset or a path / file://PATH   worker/objects/folder.py: the object folder (default: <data>/objects)
    s3://bucket/prefix              worker/objects/s3.py: any S3-compatible bucket (AWS, MinIO, Ceph, R2...)

Every name in a store is built from a SHA-256 and an extension pagemill chose, `<kind>/<xx>/<sha>[.ext]`, never
from an input file name or a provider response, so no name can escape it, and the same bytes always get the same
name: hosts that share a bucket agree on every name without asking each other. Writes are atomic (a temp name
renamed into place; an S3 PUT is visible whole or not at all), so no reader sees half an object.

Code that needs a file on disk (PDFium, PIL) asks `local_path`: the folder store's own file, or for a bucket a
copy in the host's bounded cache of originals (worker/objects/cache.py), downloaded once and checked against its
SHA-256. Everything else reads `read_bytes`. Faults are the typed StorageError subclasses of models/errors.py.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from models.errors import StorageError

__all__ = ["IMAGE_EXTENSIONS", "ObjectStore", "StoredObject", "named_object", "object_name", "sha_of_name"]

IMAGE_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/tiff": "tiff",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/gif": "gif",
}


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    relpath: str  # the object's name in the store, always "<kind>/<xx>/<sha>[.ext]"
    size: int


def object_name(kind: str, sha: str, ext: str | None) -> str:
    return f"{kind}/{sha[:2]}/{sha}.{ext}" if ext else f"{kind}/{sha[:2]}/{sha}"


def named_object(name: str) -> str:
    """`name` when it is a plain file name a store may hold at its top level, else StorageError (no folder
    separators, no `..`, no hidden or temporary names: a file name from a user's folder cannot escape)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or name.startswith(".")
            or len(name.encode()) > 255):
        raise StorageError(f"refusing {name!r} as a file name in the store")
    return name


def sha_of_name(relpath: str) -> str | None:
    """The SHA-256 a content-addressed name was built from (None for a name pagemill did not build)."""
    stem = relpath.rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) else None


class ObjectStore(ABC):
    """What every part of pagemill reads and writes objects through."""

    url: str  # where the objects live, for messages (never carries credentials)

    @abstractmethod
    def put_file(
        self, source: Path, kind: str = "originals", ext: str | None = None, durable: bool = True
    ) -> StoredObject:
        """Store a file, hashing it while it is copied (one read). Raises StorageError. With `durable` False
        the caller calls `sync()` before the database names the object (one flush for a batch of files)."""

    @abstractmethod
    def put_bytes(self, data: bytes, kind: str, ext: str | None) -> StoredObject:
        """Store bytes under their SHA-256 (a no-op when they are stored already)."""

    @abstractmethod
    def read_bytes(self, relpath: str) -> bytes:
        """An object's bytes. Raises ObjectMissing when the store does not have it."""

    @abstractmethod
    def local_path(self, relpath: str) -> Path:
        """A file on this host holding the object (for PDFium and PIL). Raises ObjectMissing."""

    @abstractmethod
    def local_name(self, relpath: str) -> Path:
        """Where `local_path` puts the object on this host, without any I/O."""

    def put_named(self, source: Path, name: str, replace: bool) -> bool:
        """Store a file under a name the caller chose, at the store's top level (the archive's searchable PDFs,
        scheduler/export/archive.py; not content-addressed), atomically: a reader sees the previous object or
        the new one, never half of one. With `replace` False an object already under that name is left as it
        is and False is returned (someone else's file). Raises StorageError."""
        raise StorageError(f"{self.url} cannot hold files under names of their own")

    def copy_out(self, relpath: str, dest: Path) -> None:
        shutil.copyfile(self.local_path(relpath), dest)

    def ensure(self) -> None:  # noqa: B027  (an optional hook: a store that needs it overrides it)
        """Create what the store needs (folders); checks nothing remote."""

    def sync(self) -> None:  # noqa: B027  (an optional hook: a store that needs it overrides it)
        """Make every object stored with `durable=False` so far survive a power loss."""

    def check(self) -> None:  # noqa: B027  (an optional hook: a store that needs it overrides it)
        """Reach the store once and raise the typed error a user can act on (bucket missing, credentials)."""

    def close(self) -> None:  # noqa: B027  (an optional hook: a store that needs it overrides it)
        """Release connections and trim the local cache."""

