"""What happens to a watched file once pagemill has it: keep it, move it aside, or delete it.

`keep` (the default) never touches the user's file. `move` puts it under `processed/` when its document is
done, or under `failed/` with `NAME.error.txt` beside it saying why. `delete` removes it only once its
document is `done` (every page stored); a document that failed or is partial goes to `failed/` instead, so
no policy ever loses a file whose results are not safely stored. A file whose size or mtime changed since it
was taken is new content: it is left alone and the watcher sees it again.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select

from models.db import Database
from models.tables import DocStatus, Document

from .stability import Signature, signature

__all__ = ["AfterIntake", "PROCESSED_DIR", "FAILED_DIR", "Finisher", "move_aside"]

log = logging.getLogger("pagemill.watch")

PROCESSED_DIR = "processed"
FAILED_DIR = "failed"


class AfterIntake(StrEnum):
    keep = "keep"
    move = "move"
    delete = "delete"


def _free_name(target: Path) -> Path:
    """`target`, or `stem (n).ext` when that name is taken: never overwrite an earlier file."""
    if not target.exists() and not target.is_symlink():
        return target
    n = 1
    while True:
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        n += 1


def move_aside(root: Path, path: Path, subdir: str, reason: str | None = None) -> Path:
    """Move `path` to `root/subdir/<its relative path>`; with a reason, write `NAME.error.txt` beside it."""
    rel = path.relative_to(root)
    target = _free_name(root / subdir / rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    if reason is not None:
        target.with_name(target.name + ".error.txt").write_text(reason.rstrip() + "\n", encoding="utf-8")
    return target


def _reason(doc: Document) -> str:
    lines = [f"{doc.filename}: {doc.status}"]
    if doc.error:
        lines.append(f"{doc.error_code or 'error'}: {doc.error}")
    lines.append(
        f"document {doc.id}: `pagemill status {doc.id}` shows its ranges; "
        "`pagemill retry` runs failed ones again"
    )
    return "\n".join(lines)


@dataclass
class _Awaiting:
    document_id: int
    sig: Signature


class Finisher:
    """Files taken by the watcher whose documents are not finished yet (only for `move` and `delete`)."""

    def __init__(self, root: Path, policy: AfterIntake) -> None:
        self.root, self.policy = root, policy
        self._awaiting: dict[Path, _Awaiting] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._awaiting

    def __len__(self) -> int:
        return len(self._awaiting)

    def track(self, path: Path, document_id: int, sig: Signature) -> None:
        if self.policy is not AfterIntake.keep:
            self._awaiting[path] = _Awaiting(document_id, sig)

    def unreadable(self, path: Path, reason: str) -> None:
        """The file could not be read at all: nothing was stored, so it is only ever moved, never deleted."""
        if self.policy is not AfterIntake.keep and path.exists():
            self._safely(path, FAILED_DIR, f"{path.name}: could not be read\n{reason}")

    def poll(self, db: Database) -> list[Path]:
        """Apply the policy to files whose documents reached a final state; returns the paths handled."""
        if not self._awaiting:
            return []
        ids = {a.document_id for a in self._awaiting.values()}
        with db.read_session() as s:
            docs = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(ids)))}
        handled = []
        for path, waiting in list(self._awaiting.items()):
            doc = docs.get(waiting.document_id)
            if doc is not None and doc.status not in DocStatus.TERMINAL:
                continue
            del self._awaiting[path]
            handled.append(path)
            if signature(path) != waiting.sig:
                log.info("%s changed or went away since it was taken; left as it is", path)
            elif doc is None:
                log.warning("%s: its document is gone from the database; left in place", path)
            else:
                self._finish(path, doc)
        return handled

    def _finish(self, path: Path, doc: Document) -> None:
        if doc.status != DocStatus.done:
            self._safely(path, FAILED_DIR, _reason(doc))
        elif self.policy is AfterIntake.delete:
            try:
                os.unlink(path)
                log.info("%s: document %d is done; deleted the file", path, doc.id)
            except OSError as exc:
                log.warning("could not delete %s: %s", path, exc.strerror or exc)
        else:
            self._safely(path, PROCESSED_DIR, None)

    def _safely(self, path: Path, subdir: str, reason: str | None) -> None:
        try:
            target = move_aside(self.root, path, subdir, reason)
            log.info("%s moved to %s", path, target)
        except OSError as exc:
            log.warning("could not move %s to %s/: %s", path, subdir, exc.strerror or exc)
