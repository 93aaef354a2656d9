"""Prometheus metrics of a real `pagemill worker` process, scraped over HTTP while it works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models.db import Database
from models.tables import Document
from scheduler.samples import make_image
from tests.conftest import start_worker, stop_process, wait_until
from tests.fakes.mistral_server import Fault, MistralServer
from tests.prom import free_port, sample, scrape

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_image(folder / f"page{i}.png", f"Metrics page {i} says hello", dpi=150)
    return folder


def _submit_and_wait(folder: Path, database_url: str, n: int) -> None:
    """`pagemill submit` as a user runs it, then wait until the database shows every document done."""
    subprocess.run([sys.executable, "-m", "scheduler.cli", "submit", str(folder)], check=True, capture_output=True)
    db = Database(database_url)
    try:
        def done() -> bool:
            with db.read_session() as s:
                return s.scalar(select(func.count()).where(Document.status == "done")) == n

        assert wait_until(done, 120)
    finally:
        db.dispose()


def test_a_prefork_worker_counts_pages_and_range_latency(production_env, tmp_path: Path) -> None:
    port = free_port()
    worker = start_worker({"PAGEMILL_METRICS_PORT": str(port)}, concurrency=2, log=tmp_path / "worker.log",
                          args=["--pool", "prefork"])
    try:
        assert wait_until(lambda: scrape(port) is not None, 60), (tmp_path / "worker.log").read_text()[-3000:]
        before = scrape(port)
        # nothing counted yet (pool children that have started may already export their counters at 0)
        assert sum(v for (name, _), v in before.samples.items() if name.startswith("pagemill_pages_")) == 0

        _submit_and_wait(_images(tmp_path / "in", 3), production_env["PAGEMILL_DATABASE_URL"], 3)

        # the pool children counted; the main process serves their sum
        after = scrape(port)
        assert sample(after, "pagemill_pages_processed_total", provider="tesseract") == 3
        assert sample(after, "pagemill_ranges_total", provider="tesseract", outcome="done") == 3
        assert sample(after, "pagemill_range_seconds_count", provider="tesseract", outcome="done") == 3
        assert sample(after, "pagemill_range_seconds_sum", provider="tesseract") > 0
        assert sample(after, "pagemill_pages_failed_total") == 0
    finally:
        stop_process(worker)


def test_an_http_worker_counts_requests_429s_retries_and_limiter_waits(production_env, tmp_path: Path) -> None:
    port = free_port()
    with MistralServer(api_key="sk-metrics-test-key") as server:
        server.inject(Fault(429, headers={"Retry-After": "1"}))
        env = {
            "PAGEMILL_METRICS_PORT": str(port),
            "PAGEMILL_PROVIDER": "mistral",
            "PAGEMILL_OCR_BASE_URL": server.url,
            "MISTRAL_API_KEY": "sk-metrics-test-key",
            "PAGEMILL_RETRY_BASE_S": "0.5",
        }
        worker = start_worker(env, concurrency=4, log=tmp_path / "worker.log")
        try:
            assert wait_until(lambda: scrape(port) is not None, 60), (tmp_path / "worker.log").read_text()[-3000:]
            _submit_and_wait(_images(tmp_path / "in", 2), production_env["PAGEMILL_DATABASE_URL"], 2)

            m = scrape(port)
            assert sample(m, "pagemill_pages_processed_total", provider="mistral") == 2
            assert sample(m, "pagemill_rate_limited_total", provider="mistral") == 1
            assert sample(m, "pagemill_retries_total", provider="mistral") == 1
            assert sample(m, "pagemill_ranges_total", provider="mistral", outcome="retry") == 1
            assert sample(m, "pagemill_request_seconds_count", provider="mistral", status="429") == 1
            assert sample(m, "pagemill_request_seconds_count", provider="mistral", status="200") == 2
            # every request waited its turn at the shared limiter (3 requests: 1 refused, 2 answered)
            assert sample(m, "pagemill_ratelimit_wait_seconds_count", limiter="ocr") == 3
            assert server.statuses().count(429) == 1
        finally:
            stop_process(worker)
