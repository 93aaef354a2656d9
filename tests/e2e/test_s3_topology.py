"""Hosts that share only Redis, PostgreSQL and a bucket: two `pagemill worker` processes with data folders of
their own and no shared folder, a batch submitted from a third, exported from a fourth (S3: moto on 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database
from models.tables import Image, Page, PageRange
from scheduler.samples import make_born_digital_pdf, make_image, page_text
from tests.conftest import ROOT, start_worker, stop_process
from tests.fakes.mistral_server import MistralServer
from tests.fakes.s3_server import MotoS3

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

KEY = "sk-test-key-topology"


def _pagemill(host: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(host), PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s)


def test_workers_sharing_only_redis_postgres_and_a_bucket(
    production_env: dict[str, str], s3_objects: str, moto_s3: MotoS3, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = tmp_path / "scans"
    inbox.mkdir()
    for n in range(4):
        make_born_digital_pdf(inbox / f"report-{n}.pdf", [page_text(10 * n + i) for i in range(2)])
    make_image(inbox / "photo.png", "A receipt", dpi=100)
    hosts = {name: tmp_path / name for name in ("worker-a", "worker-b", "submitter", "exporter")}
    with MistralServer(api_key=KEY, images_per_page=1, latency_s=0.3) as server:
        for key, value in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url,
                           "MISTRAL_API_KEY": KEY, "PAGEMILL_RATE_LIMIT": "50"}.items():
            monkeypatch.setenv(key, value)
        workers = [start_worker({"PAGEMILL_DATA_DIR": str(hosts[h])}, concurrency=2, log=tmp_path / f"{h}.log")
                   for h in ("worker-a", "worker-b")]
        try:
            submitted = _pagemill(hosts["submitter"], "submit", str(inbox), "--pages-per-task", "1", "--wait")
        finally:
            for w in workers:
                stop_process(w)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    db = Database(production_env["PAGEMILL_DATABASE_URL"])
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 9
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        assert len(set(s.scalars(select(PageRange.worker)))) >= 2  # both hosts took ranges
        doc_id = s.scalar(select(Page.document_id).where(Page.markdown.contains(page_text(20)[:30])))
        images = list(s.scalars(select(Image).where(Image.document_id == doc_id)))
    assert doc_id is not None and len(images) == 2
    # no host has an object folder: originals and images are in the bucket; workers kept originals in a cache
    for host in hosts.values():
        assert not (host / "objects").exists()
    cached = {h: list((hosts[h] / "cache" / "objects" / "originals").rglob("*")) for h in ("worker-a", "worker-b")}
    assert all(any(p.is_file() for p in files) for files in cached.values()), cached
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    listed = moto_s3.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/images/")
    assert {f"{prefix}/{im.path}" for im in images} <= {o["Key"] for o in listed.get("Contents", [])}

    out = tmp_path / "export"
    exported = _pagemill(hosts["exporter"], "export", str(doc_id), "--format", "md", "--out", str(out))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    markdown = (out / "document.md").read_text()
    assert page_text(20)[:30] in markdown and page_text(21)[:30] in markdown
    files = sorted((out / "images").iterdir())
    assert len(files) == 2 and all(f.stat().st_size > 0 for f in files)
    for f in files:
        assert f"images/{f.name}" in markdown
    shown = _pagemill(hosts["exporter"], "show", str(doc_id), "--page", "1")
    assert shown.returncode == 0 and page_text(21)[:30] in shown.stdout
