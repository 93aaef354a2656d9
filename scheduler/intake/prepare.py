"""A file stored in the object store and inspected, with no database work: what intake's threads do for each
file while the previous batch is registered (scheduler/intake/batch.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pypdfium2.raw as pdfium_c

from models.errors import InputError
from worker.documents.inspect import DocumentInfo, inspect_document, open_pdf
from worker.objects.store import ObjectStore, StoredObject
from worker.settings import WorkerSettings
from worker.tasks.resources import limits_from

from .types import IntakeOptions

__all__ = ["PreparedFile", "prepare_file"]


@dataclass
class PreparedFile:
    """A file stored and inspected, not yet registered."""

    path: Path
    stored: StoredObject
    info: DocumentInfo | None
    problem: InputError | None
    work_path: str | None


def _decrypted_copy(objects: ObjectStore, relpath: str, password: str) -> str:
    """Keep a password-free working copy so workers never need the password (it is stored nowhere)."""
    with open_pdf(objects.local_path(relpath), password) as pdf:
        buf = io.BytesIO()
        pdf.save(buf, flags=pdfium_c.FPDF_REMOVE_SECURITY)
    return objects.put_bytes(buf.getvalue(), "work", "pdf").relpath


def prepare_file(
    objects: ObjectStore, path: Path, settings: WorkerSettings, opts: IntakeOptions, durable: bool = True
) -> PreparedFile:
    """Store and inspect one file, no database. Raises only StorageError (the file could not be read or stored).
    With `durable` False the caller syncs the store before registering (scheduler/intake/batch.py)."""
    stored = objects.put_file(path, durable=durable)
    info: DocumentInfo | None = None
    problem: InputError | None = None
    work_path: str | None = None
    try:
        info = inspect_document(objects.local_path(stored.relpath), opts.password, limits_from(settings))
        if opts.password and info.kind == "pdf":
            work_path = _decrypted_copy(objects, stored.relpath, opts.password)
    except InputError as err:
        problem = err
    return PreparedFile(path, stored, info, problem, work_path)
