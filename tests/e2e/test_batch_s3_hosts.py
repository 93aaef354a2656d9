"""Batch mode across hosts that share only Redis, PostgreSQL and an S3 bucket (moto on 127.0.0.1): a document
submitted with `--batch` on one host, its batch job written, sent, polled and collected by `pagemill scheduler`
on another. Each host has a data folder of its own and no shared folder.

The submitting host cannot reach the provider, so the job's input file (which reads the originals) is built and
sent by the scheduler's host: it must find the originals in the bucket, and store the pages' images there. The
batch poller once built a folder store of its data folder whatever PAGEMILL_OBJECTS_URL said, and such a
document failed after 4 attempts ("originals/... is missing from the object folder .../host2/data/objects")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database
from models.tables import BatchJob, Document, Image, Page, Usage
from scheduler.samples import make_born_digital_pdf, page_text
from tests.conftest import ROOT, stop_process, wait_until
from tests.fakes.batch_server import BatchServer
from tests.fakes.s3_server import MotoS3

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

KEY = "sk-test-batch-hosts-34"
PAGES = 8  # two documents of 4 pages, 2 pages per range: 4 ranges in one job


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket is closed


@pytest.fixture
def server() -> Iterator[BatchServer]:
    with BatchServer(api_key=KEY, queue_s=0.3, run_s=0.6, images_per_page=1) as srv:
        yield srv


def _host_env(host: Path, provider_url: str) -> dict[str, str]:
    """One host's environment: the shared Redis, PostgreSQL and bucket (already in os.environ), its own data."""
    return dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200", PAGEMILL_DATA_DIR=str(host),
                PAGEMILL_PROVIDER="mistral", PAGEMILL_OCR_BASE_URL=provider_url, MISTRAL_API_KEY=KEY,
                PAGEMILL_RETRY_BASE_S="0.05", PAGEMILL_BATCH_POLL_MIN_S="0.2", PAGEMILL_BATCH_POLL_MAX_S="0.5")


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_batch_submitted_on_one_host_is_done_by_the_scheduler_of_another_through_the_bucket(
    production_env: dict[str, str], s3_objects: str, moto_s3: MotoS3, server: BatchServer, tmp_path: Path,
) -> None:
    inbox = tmp_path / "scans"
    inbox.mkdir()
    make_born_digital_pdf(inbox / "a.pdf", [page_text(i) for i in range(PAGES // 2)])
    make_born_digital_pdf(inbox / "b.pdf", [page_text(50 + i) for i in range(PAGES // 2)])
    submitter, scheduler = tmp_path / "host1" / "data", tmp_path / "host2" / "data"

    submitted = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "submit", "--batch", "--pages-per-task", "2", str(inbox)],
        env=_host_env(submitter, _closed_port_url()), capture_output=True, text=True, timeout=180, check=False)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert not server.uploads, "the submitting host reached the provider: the scheduler's host sent nothing"

    db = Database(production_env["PAGEMILL_DATABASE_URL"])

    def finished() -> bool:
        """Every document at its end, or a second job formed: the first was refused (the test fails now
        rather than after the refused ranges' every attempt)."""
        with db.read_session() as s:
            return (set(s.scalars(select(Document.status))) <= {"done", "failed", "cancelled"}
                    or s.scalar(select(func.count()).select_from(BatchJob)) > 1)

    log = tmp_path / "scheduler.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "scheduler", "--interval", "0.3"],
                                env=_host_env(scheduler, server.url), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        assert wait_until(finished, timeout_s=120), log.read_text(errors="replace")[-3000:]
    finally:
        stop_process(proc)
    with db.read_session() as s:
        errors = [j.error for j in s.scalars(select(BatchJob)) if j.error]
        assert s.scalar(select(func.count()).select_from(BatchJob)) == 1, errors
        docs = {d.filename: (d.status, d.error) for d in s.scalars(select(Document))}
        assert docs == {"a.pdf": ("done", None), "b.pdf": ("done", None)}, docs
        # every page stored once, and billed once, at the batch rate
        assert s.scalar(select(func.count()).select_from(Page)) == PAGES
        assert s.scalar(select(func.count(func.distinct(Page.document_id * 10000 + Page.page_index)))) == PAGES
        assert s.scalar(select(func.sum(Usage.pages_processed))) == PAGES
        assert set(s.scalars(select(Usage.billing))) == {"batch"}
        originals = set(s.scalars(select(Document.object_path)))
        images = list(s.scalars(select(Image.path)))
    ids = server.uploaded_custom_ids()
    assert len(ids) == len(set(ids)) == PAGES // 2, "a range was uploaded twice"
    assert len(server.jobs) == 1 and server.billed_pages == PAGES
    # the originals and every page's image are in the bucket...
    assert len(originals) == 2 and len(images) == PAGES  # one picture a page
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    keys = {o["Key"] for page in moto_s3.client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/") for o in page.get("Contents", [])}
    assert {f"{prefix}/{name}" for name in originals | set(images)} <= keys
    # ...none in a host's own object folder; the scheduler's host read the originals from the bucket
    for host in (submitter, scheduler):
        assert _files(host / "objects") == [], f"objects stored in {host / 'objects'}, not in the bucket"
    assert {p.name.split(".")[0] for p in _files(scheduler / "cache" / "objects" / "originals")} == {
        Path(name).name.split(".")[0] for name in originals}
