"""Helpers for the tests that do damage: fake-provider workers, documents, waiting, and the final count.

Worker subprocesses load tests/fakes/site/sitecustomize.py, which registers the `slowfake` provider; the
test process registers it too (settings validate the provider name)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from sqlalchemy import func, select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import DocStatus, Document, Image, Page, PageRange, RangeStatus, Usage
from tests.conftest import ROOT, wait_until
from tests.fakes.slow import register

__all__ = ["fault_env", "make_pdf", "DocCount", "count_document", "wait_running_holder_pid", "open_db", "report"]


def fault_env(monkeypatch: pytest.MonkeyPatch, **extra: str) -> dict[str, str]:
    """Short leases and sweeps so a dead worker's range comes back in seconds; set here and for workers."""
    register()
    env = {
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests' / 'fakes' / 'site'}",
        "PAGEMILL_TEST_FAKES": "1",
        "PAGEMILL_PROVIDER": "slowfake",
        "PAGEMILL_TEST_PAGE_DELAY_S": "0.25",
        "PAGEMILL_LEASE_S": "3",
        "PAGEMILL_REQUEUE_AFTER_S": "4",
        "PAGEMILL_SWEEP_INTERVAL_S": "1",
        "PAGEMILL_RETRY_BASE_S": "0.5",
        "PAGEMILL_RETRY_MAX_S": "5",
        **extra,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def make_pdf(path: Path, pages: int, seed: int = 0) -> Path:
    """A PDF of blank pages (the fake provider does not read them); `seed` makes the bytes unique."""
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(300 + seed, 400)
    pdf.save(path)
    pdf.close()
    return path


def open_db() -> Database:
    return Database.from_settings(DatabaseSettings())


@dataclass
class DocCount:
    status: str
    pages: int
    distinct_pages: int
    images: int
    distinct_images: int
    billed_pages: int
    expected: int

    @property
    def lost(self) -> int:
        return self.expected - self.distinct_pages

    @property
    def duplicates(self) -> int:
        return (self.pages - self.distinct_pages) + (self.images - self.distinct_images)


def count_document(db: Database, doc_id: int) -> DocCount:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        pages = s.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc_id)) or 0
        distinct = s.scalar(select(func.count(func.distinct(Page.page_index))).where(Page.document_id == doc_id)) or 0
        images = s.scalar(select(func.count()).select_from(Image).where(Image.document_id == doc_id)) or 0
        distinct_images = s.scalar(
            select(func.count(func.distinct(Image.page_index))).where(Image.document_id == doc_id)
        ) or 0
        billed = s.scalar(select(func.sum(Usage.pages_processed)).where(Usage.document_id == doc_id)) or 0
        return DocCount(doc.status, pages, distinct, images, distinct_images, int(billed), doc.page_count or 0)


def wait_running_holder_pid(db: Database, exclude: set[int] | None = None, min_running_s: float = 0.6,
                            timeout_s: float = 40) -> int:
    """The pid of a pool process that has been running a range for a while (from the lease holder name)."""
    exclude = exclude or set()
    found: list[int] = []

    def probe() -> bool:
        with db.read_session() as s:
            for holder in s.scalars(select(PageRange.worker).where(PageRange.status == RangeStatus.running)):
                pid = int(str(holder).split(":")[-2])
                if pid not in exclude:
                    found.append(pid)
                    return True
        return False

    assert wait_until(probe, timeout_s, 0.1), "no range started running"
    time.sleep(min_running_s)  # well inside the range: 8 pages take about 2 s
    return found[0]


def wait_done(db: Database, doc_ids: list[int], timeout_s: float = 90) -> bool:
    def finished() -> bool:
        with db.read_session() as s:
            st = s.scalars(select(Document.status).where(Document.id.in_(doc_ids))).all()
        return len(st) == len(doc_ids) and all(x in DocStatus.TERMINAL for x in st)

    return wait_until(finished, timeout_s, 0.3)


def kill9(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def report(fault: str, counts: list[DocCount]) -> None:
    """One line per test run, collected for the issue's table (run pytest with -s to see it)."""
    done = sum(1 for c in counts if c.status == DocStatus.done)
    print(f"\nFAULT-REPORT | {fault} | docs {len(counts)} | completed {done} | "
          f"pages lost {sum(c.lost for c in counts)} | duplicate pages {sum(c.duplicates for c in counts)} | "
          f"billed {sum(c.billed_pages for c in counts)}/{sum(c.expected for c in counts)}")
