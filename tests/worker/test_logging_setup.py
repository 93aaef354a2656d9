"""Log lines: JSON with PAGEMILL_LOG_FORMAT=json, readable otherwise; range context on range lines; no key."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.tables import PageRange
from scheduler.samples import make_image
from tests.conftest import start_worker, stop_process, wait_until
from tests.fakes.mistral_server import Fault, MistralServer
from worker.logging_setup import configure_logging
from worker.redact import configured_secrets

KEY = "sk-live-4f9c2e7a1b3d5e6f"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    configured_secrets.cache_clear()
    yield KEY
    configured_secrets.cache_clear()


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_lines(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    configure_logging(logging.INFO, fmt=fmt, stream=out)
    return logging.getLogger("pagemill.worker"), out


def test_json_lines_carry_the_range_context_and_never_the_key(secret, restore_root_logging) -> None:
    log, out = _log_lines("json")
    ctx = {"document_id": 3, "range_id": 7, "attempt": 2}
    log.info("range started", extra=ctx)
    log.warning("range failed: %s", f"server said: bad key {secret}", extra=ctx)
    try:
        raise RuntimeError(f"Authorization: Bearer {secret}")
    except RuntimeError:
        log.exception("range crashed", extra={**ctx, "url": f"https://x/?key={secret}"})
    logging.getLogger("pagemill.sweep").warning("sweep failed")

    text = out.getvalue()
    assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == [
        "range started", "range failed: server said: bad key ***", "range crashed", "sweep failed"]
    for line in lines[:3]:
        assert (line["document_id"], line["range_id"], line["attempt"]) == (3, 7, 2)
        assert line["logger"] == "pagemill.worker" and line["ts"].endswith("Z")
    assert lines[1]["level"] == "WARNING"
    assert "RuntimeError: Authorization: Bearer ***" in lines[2]["exc"]
    assert lines[2]["url"] == "https://x/?key=***"
    assert "document_id" not in lines[3]


def test_readable_lines_end_with_the_range_context(secret, restore_root_logging) -> None:
    log, out = _log_lines("text")
    log.info("range started", extra={"document_id": 3, "range_id": 7, "attempt": 1})
    log.warning("key was %s", secret)
    first, second = out.getvalue().splitlines()
    assert first.endswith("INFO pagemill.worker: range started [document_id=3 range_id=7 attempt=1]")
    assert second.endswith("WARNING pagemill.worker: key was ***")


def test_the_format_comes_from_pagemill_log_format(monkeypatch, restore_root_logging) -> None:
    monkeypatch.setenv("PAGEMILL_LOG_FORMAT", "json")
    out = io.StringIO()
    configure_logging(logging.INFO, stream=out)
    configure_logging(logging.INFO, stream=out)  # again: still one handler, one line per record
    logging.getLogger("pagemill.test").info("hello")
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["hello"]


@pytest.mark.redis
@pytest.mark.postgres
def test_a_real_worker_logs_json_range_lines_without_the_key(production_env, tmp_path: Path) -> None:
    """A worker whose provider answers with an error that echoes the key: the range is retried, and its log
    lines (started, failed, started, done) carry the range context and never the key."""
    log_file = tmp_path / "worker.log"
    inbox = tmp_path / "in"
    inbox.mkdir()
    make_image(inbox / "a.png", "Logging test page", dpi=150)
    with MistralServer(api_key=KEY) as server:
        server.inject(Fault(503, body={"message": f"upstream rejected key {KEY}"}))
        env = {"PAGEMILL_LOG_FORMAT": "json", "PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url,
               "MISTRAL_API_KEY": KEY, "PAGEMILL_RETRY_BASE_S": "0.5"}
        worker = start_worker(env, concurrency=2, log=log_file, args=["--loglevel", "info"])
        db = Database(production_env["PAGEMILL_DATABASE_URL"])
        try:
            subprocess.run([sys.executable, "-m", "scheduler.cli", "submit", str(inbox)], check=True,
                           capture_output=True)

            def done() -> bool:
                with db.read_session() as s:
                    return s.scalar(select(func.count()).where(PageRange.status == "done")) == 1

            assert wait_until(done, 90), log_file.read_text()[-3000:]
        finally:
            db.dispose()
            stop_process(worker)
    text = log_file.read_text()
    assert KEY not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    range_lines = [r for r in records if r["logger"] == "pagemill.worker"]
    assert [r["message"].split(":")[0] for r in range_lines] == ["range started", "range failed", "range started"]
    for r in range_lines:
        assert isinstance(r["document_id"], int) and isinstance(r["range_id"], int)
    assert [r["attempt"] for r in range_lines] == [1, 1, 2]
