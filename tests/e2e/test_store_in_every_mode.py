"""Every way of running OCR keeps originals and images in the store PAGEMILL_OBJECTS_URL names, never in the data
folder's own objects/: direct processes and Celery workers, a folder and a bucket, SQLite and PostgreSQL.

The three choices are crossed pairwise (four runs rather than eight): every mode meets every store and every
database. A mode that builds its store another way than `object_store(settings)` puts the files in
<data>/objects, which the configured store never is here, so each run fails for it. The batch poller, which a
local run never reaches, is covered by tests/e2e/test_batch_s3_hosts.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Database
from models.settings import DatabaseSettings
from models.tables import Document, Image, PageRange
from tests.conftest import ROOT
from tests.fixtures.textlayer_pdfs import make_picture_pdf

# (mode, store, database): pairwise, so each pair of choices is run once
CASES = [
    ("direct", "folder", "sqlite"),
    ("direct", "bucket", "postgresql"),
    ("celery", "folder", "postgresql"),
    ("celery", "bucket", "sqlite"),
]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize(("mode", "store", "database"), CASES, ids=["-".join(c) for c in CASES])
def test_a_run_keeps_originals_and_images_in_the_configured_store(
    mode: str, store: str, database: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PYTHONPATH": str(ROOT), "PAGEMILL_DATA_DIR": str(data), "PAGEMILL_PROVIDER": "local",
                "PAGEMILL_EMBEDDED_WORKERS": "1", "COLUMNS": "200"})
    if database == "postgresql":
        env["PAGEMILL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    if mode == "celery":
        env["PAGEMILL_DIRECT_MAX_PAGES"] = "0"  # Celery workers (embedded broker) even for a small job
    if store == "bucket":
        url = request.getfixturevalue("s3_objects")  # a fresh bucket; AWS_* set in os.environ
        env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    else:
        url = str(tmp_path / "shared-objects")
    env["PAGEMILL_OBJECTS_URL"] = url
    pdf = make_picture_pdf(tmp_path / "report.pdf", "Quarterly figures above the chart", "Notes below the chart")

    out = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", str(pdf)], env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr

    db = Database.from_settings(DatabaseSettings(data_dir=data, database_url=env.get("PAGEMILL_DATABASE_URL")))
    try:
        with db.read_session() as s:
            doc = s.scalars(select(Document)).one()
            assert doc.status == "done", doc.error
            holders = set(s.scalars(select(PageRange.worker)))
            names = [doc.object_path, *s.scalars(select(Image.path).where(Image.document_id == doc.id))]
    finally:
        db.dispose()
    assert holders and all(str(h).startswith("pagemill-direct-") == (mode == "direct") for h in holders), holders
    assert len(names) == 2 and names[1].startswith("images/"), names  # the original and the page's picture
    if store == "bucket":
        from tests.fakes.s3_server import MotoS3

        moto = request.getfixturevalue("moto_s3")
        assert isinstance(moto, MotoS3)
        bucket, prefix = url.removeprefix("s3://").split("/", 1)
        listed = moto.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        assert {f"{prefix}/{n}" for n in names} <= {o["Key"] for o in listed.get("Contents", [])}, listed
    else:
        for name in names:
            assert (Path(url) / name).is_file(), name
    assert _files(data / "objects") == [], "a mode stored objects in the data folder, not in the configured store"
