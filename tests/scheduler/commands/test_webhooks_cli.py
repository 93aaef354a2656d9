"""`pagemill webhooks ...` and a real `pagemill run` delivering its events to a receiver that verifies them with
the `standardwebhooks` library (SQLite, and PostgreSQL when it is reachable)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scheduler.ui.helpers import pdf_bytes
from tests.worker.webhooks.receiver import receiver

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_subscriptions_from_the_command_line_never_show_a_secret_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_WEBHOOK_ALLOW_PRIVATE", "1")
    with receiver() as rec:
        added = _cli("webhooks", "add", rec.url, "--event", "document.done", "--event", "job.done,fields.extracted")
        assert added.returncode == 0, added.stderr
        (secret,) = SECRET.findall(added.stdout)
        listed = _cli("webhooks", "list")
        assert "document.done, job.done, fields.extracted" in listed.stdout and rec.url in listed.stdout
        assert "whsec_" not in listed.stdout + listed.stderr
        rotated = _cli("webhooks", "rotate-secret", "1")
        (new,) = SECRET.findall(rotated.stdout)
        assert new != secret and secret not in rotated.stdout
        assert "previous secret still signs" in _cli("webhooks", "list").stdout
        rec.secrets.append(new)
        ping = _cli("webhooks", "test", rec.url)
        assert ping.returncode == 0 and "delivered: HTTP 200" in ping.stdout, ping.stdout + ping.stderr
        assert "whsec_" not in ping.stdout  # signed with the subscription's secrets, not shown
        assert rec.arrivals[-1].verified and rec.arrivals[-1].type == "webhook.test"
        assert "no deliveries" in _cli("webhooks", "deliveries").stdout
        assert _cli("webhooks", "redeliver").returncode == 3  # ConfigError's exit code
        assert _cli("webhooks", "add", rec.url, "--event", "document.finished").returncode == 3
        assert _cli("webhooks", "remove", "1").returncode == 0
        assert "no webhook subscriptions" in _cli("webhooks", "list").stdout


def test_a_private_target_is_refused_with_a_readable_error() -> None:
    out = _cli("webhooks", "add", "http://169.254.169.254/latest/meta-data")
    assert out.returncode == 3
    assert "metadata" in out.stderr and "PAGEMILL_WEBHOOK_ALLOW_PRIVATE" in out.stderr
    assert _cli("webhooks", "add", "file:///etc/passwd").returncode == 3


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_run_delivers_document_done_and_job_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   request: pytest.FixtureRequest, database: str) -> None:
    if database == "postgresql":  # skips with the reason when PostgreSQL is not reachable
        monkeypatch.setenv("PAGEMILL_DATABASE_URL", request.getfixturevalue("postgres_url"))
    monkeypatch.setenv("PAGEMILL_WEBHOOK_ALLOW_PRIVATE", "1")
    pdf = tmp_path / "memo.pdf"
    pdf.write_bytes(pdf_bytes(["The quarterly report is attached", "Second page of the memo"]))
    with receiver() as rec:
        added = _cli("webhooks", "add", rec.url)
        assert added.returncode == 0, added.stderr
        rec.secrets.extend(SECRET.findall(added.stdout))
        run = _cli("run", str(pdf))
        assert run.returncode == 0, run.stdout + run.stderr
        types = [a.type for a in rec.arrivals]
        assert types == ["document.done", "job.done"], types
        assert all(a.verified for a in rec.arrivals)
        doc, job = rec.arrivals[0].data, rec.arrivals[1].data
        assert doc["filename"] == "memo.pdf" and doc["pages"] == {"done": 2, "total": 2} and doc["job"] == job["id"]
        assert job["documents"]["done"] == 1 and job["documents"]["total"] == 1
        assert "quarterly" not in str(rec.arrivals[0].data)  # ids and summaries, never page text
        shown = _cli("webhooks", "deliveries")
        assert shown.stdout.count("delivered") == 2, shown.stdout


def test_a_file_refused_at_intake_sends_document_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_WEBHOOK_ALLOW_PRIVATE", "1")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\nthis is not a PDF at all")
    good = tmp_path / "memo.pdf"
    good.write_bytes(pdf_bytes(["The quarterly report is attached"]))
    with receiver() as rec:
        added = _cli("webhooks", "add", rec.url)
        rec.secrets.extend(SECRET.findall(added.stdout))
        run = _cli("run", str(bad), str(good))
        assert run.returncode == 1, run.stdout + run.stderr  # a file failed
        by_type = {a.type: a.data for a in rec.arrivals}
        assert set(by_type) == {"document.failed", "document.done", "job.done"}, [a.type for a in rec.arrivals]
        failed = by_type["document.failed"]
        assert failed["filename"] == "broken.pdf" and failed["error_code"] and failed["what_to_do"]
        assert by_type["job.done"]["documents"]["failed"] == 1 and by_type["job.done"]["documents"]["done"] == 1
        assert [a.type for a in rec.arrivals][-1] == "job.done"


@pytest.mark.parametrize("mode", ["direct", "celery"])
def test_a_long_run_sends_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """The first document.done arrives before the run's last document is finished (a deliverer runs beside the
    workers: a process beside forked direct workers, a thread beside Celery ones), and the end-of-run flush still
    sends job.done."""
    from datetime import UTC

    from sqlalchemy import func, select

    from models.db import Database
    from models.settings import DatabaseSettings
    from models.tables import Document
    from tests.fakes.mistral_server import MistralServer

    KEY = "sk-test-key-webhooks"

    data = tmp_path / "data"
    for key, value in {"PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "1", "PAGEMILL_WEBHOOK_POLL_S": "0.2",
                       "PAGEMILL_DATA_DIR": str(data), "PAGEMILL_EMBEDDED_WORKERS": "1",
                       "PAGEMILL_PROVIDER": "mistral", "MISTRAL_API_KEY": KEY,
                       # 0: Celery workers (embedded broker) even for this small job
                       "PAGEMILL_DIRECT_MAX_PAGES": "100" if mode == "direct" else "0"}.items():
        monkeypatch.setenv(key, value)
    pdfs = []
    for i in range(5):
        pdfs.append(tmp_path / f"memo{i}.pdf")
        pdfs[-1].write_bytes(pdf_bytes([f"Memo number {i} of the quarter"]))
    with MistralServer(api_key=KEY, latency_s=1.5) as server, receiver() as rec:
        monkeypatch.setenv("PAGEMILL_OCR_BASE_URL", server.url)
        added = _cli("webhooks", "add", rec.url)
        assert added.returncode == 0, added.stderr
        rec.secrets.extend(SECRET.findall(added.stdout))
        run = _cli("run", *map(str, pdfs))
        assert run.returncode == 0, run.stdout + run.stderr
    types = [a.type for a in rec.arrivals]
    assert types.count("document.done") == 5 and types[-1] == "job.done", types
    assert all(a.verified for a in rec.arrivals)
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        last_finished = s.scalar(select(func.max(Document.finished_at)))
    last_finished = last_finished.replace(tzinfo=last_finished.tzinfo or UTC).timestamp()
    first_arrival = min(a.at for a in rec.arrivals if a.type == "document.done")
    assert first_arrival < last_finished, (first_arrival, last_finished)
