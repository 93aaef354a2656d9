"""The `/v1/files` store: uploaded files kept in one folder, named by an id the server chooses.

Each file is `<id>.bin` plus `<id>.json` (its metadata); ids are UUIDs, checked before any path is built,
so a client-supplied id can never name a path outside the folder.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from models.errors import OversizedInput

from ..documents.mime import sniff_mime
from .errors import ApiError
from .schemas import FileObject

__all__ = ["FileStore", "CHUNK_BYTES"]

CHUNK_BYTES = 1024 * 1024
_DEFAULT_EXPIRY_S = 30 * 24 * 3600  # the real API keeps files 30 days unless deleted


def _not_found(file_id: str) -> ApiError:
    return ApiError(404, f"No file with id {file_id!r} (it may have been deleted)",
                    "invalid_request_error", "1501")


class FileStore:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)

    def _paths(self, file_id: str) -> tuple[Path, Path]:
        try:
            canonical = str(uuid.UUID(file_id))
        except (ValueError, AttributeError, TypeError):
            raise _not_found(file_id) from None
        return self.folder / f"{canonical}.bin", self.folder / f"{canonical}.json"

    def save(self, stream: BinaryIO, filename: str, purpose: str) -> FileObject:
        """Copy `stream` in (temp name, then rename), refusing it once it passes `max_bytes`."""
        file_id = str(uuid.uuid4())
        data_path, meta_path = self._paths(file_id)
        tmp = data_path.with_suffix(".part")
        size = 0
        head = b""
        try:
            with tmp.open("wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise OversizedInput(
                            f"the file is over the upload limit of {self.max_bytes // 2**20} MB")
                    if len(head) < 1024:
                        head += chunk[: 1024 - len(head)]
                    out.write(chunk)
            os.replace(tmp, data_path)
        finally:
            tmp.unlink(missing_ok=True)
        now = int(time.time())
        meta = FileObject(id=file_id, bytes=size, created_at=now, filename=filename or "upload",
                          purpose=purpose, mimetype=sniff_mime(head), expires_at=now + _DEFAULT_EXPIRY_S)
        meta_path.write_text(meta.model_dump_json(), encoding="utf-8")
        return meta

    def get(self, file_id: str) -> FileObject:
        _, meta_path = self._paths(file_id)
        try:
            return FileObject.model_validate(json.loads(meta_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise _not_found(file_id) from None

    def path(self, file_id: str) -> Path:
        data_path, _ = self._paths(file_id)
        if not data_path.exists():
            raise _not_found(file_id)
        return data_path

    def delete(self, file_id: str) -> None:
        data_path, meta_path = self._paths(file_id)
        if not meta_path.exists():
            raise _not_found(file_id)
        meta_path.unlink(missing_ok=True)
        data_path.unlink(missing_ok=True)
