"""Events from every way work reaches pagemill, delivered by `pagemill scheduler` to a receiver that verifies each
signature with the `standardwebhooks` library: `submit --wait` through `pagemill worker` processes (Redis broker on
PostgreSQL, the embedded broker on SQLite), a file dropped in the scheduler's watched folder, a correction posted
on the review page (`page.corrected`) and `pagemill extract` (`fields.extracted`).

One test per database runs all four, so the processes start once for each (the slow part)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.db import Database
from models.settings import DatabaseSettings
from scheduler.samples import make_born_digital_pdf
from scheduler.ui.app import create_app
from scheduler.ui.settings import UiSettings
from tests.conftest import ROOT, start_worker, stop_process
from tests.fakes.chat_server import ChatServer
from tests.fakes.mistral_server import MistralServer
from tests.scheduler.ui.conftest import LOCAL, csrf_of
from tests.worker.webhooks.receiver import Arrival, Receiver, receiver

OCR_KEY, CHAT_KEY = "sk-test-ocr-webhooks", "sk-test-chat-webhooks"
SCHEMA = ROOT / "examples" / "invoice.schema.json"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=180)


def _arrived(rec: Receiver, what: str, match: Callable[[Arrival], bool], timeout_s: float = 90) -> Arrival:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [a for a in rec.delivered() if match(a)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout_s:g} s; arrived: {[(a.type, a.data.get('filename')) for a in rec.arrivals]}")


def _invoice(path: Path, number: str) -> Path:
    return make_born_digital_pdf(path, [f"ACME Supplies Ltd\n\nInvoice number: {number}\n\nInvoice date: 2026-03-01"
                                        "\n\nTotal: 120.50\n\nCurrency: EUR"])


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_events_from_workers_the_watched_folder_the_review_page_and_extract(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    data, inbox = tmp_path / "data", tmp_path / "inbox"
    inbox.mkdir()
    env = {"PAGEMILL_DATA_DIR": str(data), "PAGEMILL_PROVIDER": "mistral", "MISTRAL_API_KEY": OCR_KEY,
           "PAGEMILL_RATE_LIMIT": "50", "PAGEMILL_EXTRACT_API_KEY": CHAT_KEY, "PAGEMILL_WATCH_DIRS": str(inbox),
           "PAGEMILL_WATCH_SETTLE_S": "0.5", "PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "1", "PAGEMILL_WEBHOOK_POLL_S": "0.2",
           "PAGEMILL_QUEUE": f"pagemill-test-{uuid.uuid4().hex[:8]}", "PYTHONPATH": str(ROOT)}
    if database == "postgresql":  # Celery on Redis, results in PostgreSQL (each skips with its reason if absent)
        env["PAGEMILL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["PAGEMILL_BROKER_URL"] = request.getfixturevalue("redis_url")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with MistralServer(api_key=OCR_KEY) as ocr, ChatServer(api_key=CHAT_KEY) as chat, receiver() as rec:
        monkeypatch.setenv("PAGEMILL_OCR_BASE_URL", ocr.url)
        monkeypatch.setenv("PAGEMILL_EXTRACT_BASE_URL", chat.url)
        added = _cli("webhooks", "add", rec.url)
        assert added.returncode == 0, added.stdout + added.stderr
        rec.secrets.extend(SECRET.findall(added.stdout))
        worker = start_worker(concurrency=2, log=tmp_path / "worker.log")
        scheduler = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "scheduler"], env=dict(os.environ),
                                     stdout=open(tmp_path / "scheduler.log", "wb"), stderr=subprocess.STDOUT)
        try:
            submitted = _cli("submit", str(_invoice(tmp_path / "a.pdf", "A-1")), "--wait")
            assert submitted.returncode == 0, submitted.stdout + submitted.stderr
            doc = _arrived(rec, "document.done of a.pdf",
                           lambda a: a.type == "document.done" and a.data["filename"] == "a.pdf")
            job = _arrived(rec, "job.done of the submit", lambda a: a.type == "job.done")
            assert job.data["id"] == doc.data["job"] and job.data["documents"]["done"] == 1

            shutil.copy(_invoice(tmp_path / "b.pdf", "B-2"), inbox / "b.pdf")  # the watched folder
            _arrived(rec, "document.done of the watched file",
                     lambda a: a.type == "document.done" and a.data["filename"] == "b.pdf")

            db = Database.from_settings(DatabaseSettings(data_dir=data))
            try:  # the review page, as a browser posts a correction
                with TestClient(create_app(UiSettings(user="ana"), db=db), base_url=LOCAL) as client:
                    page = f"/doc/{doc.data['id']}/page/0"
                    r = client.post(f"{page}/correct", follow_redirects=True,
                                    data={"markdown": "Invoice A-1, corrected", "csrf_token": csrf_of(client, page)})
                    assert "correction saved" in r.text
            finally:
                db.dispose()
            corrected = _arrived(rec, "page.corrected", lambda a: a.type == "page.corrected")
            assert corrected.data["document_id"] == doc.data["id"] and corrected.data["author"] == "ana"

            extracted = _cli("extract", "--schema", str(SCHEMA), str(doc.data["id"]))
            assert extracted.returncode == 0, extracted.stdout + extracted.stderr
            fields = _arrived(rec, "fields.extracted", lambda a: a.type == "fields.extracted")
            assert fields.data["document_id"] == doc.data["id"] and fields.data["schema"] == "invoice"
        finally:
            stop_process(scheduler)
            stop_process(worker)
    assert all(a.verified for a in rec.arrivals)
    assert len(rec.delivered_ids()) == len(set(rec.delivered_ids())), "an event delivered twice without a failure"
    assert "ACME" not in str([a.data for a in rec.arrivals if a.type != "fields.extracted"])  # no page text
