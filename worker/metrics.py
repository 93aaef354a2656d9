"""Prometheus metrics of the workers (and the scheduler), served on PAGEMILL_METRICS_PORT.

    PAGEMILL_METRICS_PORT=9101 pagemill worker        # http://127.0.0.1:9101/metrics
    PAGEMILL_METRICS_ADDR=0.0.0.0                     # listen beyond this machine (containers)

What is counted where:
- `pagemill_pages_processed_total{provider}`, `pagemill_pages_failed_total{provider}`,
  `pagemill_ranges_total{provider,outcome}`, `pagemill_range_seconds{provider,outcome}` and
  `pagemill_retries_total{provider}`: by the task (worker/tasks/ocr.py) once per range outcome;
- `pagemill_request_seconds{provider,status}` and `pagemill_rate_limited_total{provider}` (HTTP 429): by the
  HTTP provider around each request;
- `pagemill_ratelimit_wait_seconds{limiter}`: by the shared rate limiter, the time a request waited for its slot;
- `pagemill_queue_depth{queue}`, `pagemill_documents{status}`, `pagemill_page_ranges{status}`: read from the
  broker and the database on each scrape by the scheduler (scheduler/reports/metrics.py), so they are right however
  many workers run.

Process model. A prefork worker counts in its pool children, which cannot each own the port, so pagemill uses
prometheus_client's *multiprocess mode*: when PAGEMILL_METRICS_PORT is set and PROMETHEUS_MULTIPROC_DIR is not,
importing this module creates a private temporary folder and sets PROMETHEUS_MULTIPROC_DIR to it before any
metric exists; children inherit it through fork, every process writes its own memory-mapped file there, and the
worker's main process serves the sum of them (started on Celery's `worker_init`, before the pool forks). The same
holds for the threads pool (one process) and the scheduler. A folder set from outside is used as it is: give each
worker instance an empty one of its own.

The metric objects are registered once per process in prometheus_client's default registry, as that library
intends; they hold counts only, never configuration.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

__all__ = ["METRICS", "Metrics", "MetricsSettings", "serve_metrics", "build_registry", "observe_range",
           "forget_process", "remove_multiprocess_dir"]

log = logging.getLogger("pagemill.metrics")

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNER_ENV = "PAGEMILL_METRICS_DIR_OWNER"  # "pid:folder" of the process that made the folder


def _prepare_multiprocess_dir() -> None:
    """Multiprocess mode must be chosen before prometheus_client creates its first metric (see docstring)."""
    if not os.environ.get("PAGEMILL_METRICS_PORT") or os.environ.get(_MULTIPROC_ENV):
        return
    folder = tempfile.mkdtemp(prefix="pagemill-metrics-")
    os.environ[_MULTIPROC_ENV] = folder
    owner = os.getpid()

    os.environ[_OWNER_ENV] = f"{owner}:{folder}"
    atexit.register(remove_multiprocess_dir)


def remove_multiprocess_dir() -> None:
    """Remove the metrics folder this process made (at exit; `pagemill worker` calls it itself). Forked children
    run exit handlers too: only the creator removes it."""
    owner, _, folder = os.environ.get(_OWNER_ENV, "").partition(":")
    if folder and owner == str(os.getpid()):
        shutil.rmtree(folder, ignore_errors=True)


_prepare_multiprocess_dir()

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
    values,
)
from prometheus_client.registry import Collector  # noqa: E402
from pydantic_settings import BaseSettings, SettingsConfigDict  # noqa: E402

if os.environ.get(_MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
    # prometheus_client was imported before the folder was set: switch now (no metric exists yet)
    values.ValueClass = values.MultiProcessValue()

# a range holds up to 8 pages of OCR: seconds to many minutes
_RANGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
_REQUEST_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)
_WAIT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore", env_ignore_empty=True)

    metrics_port: int | None = None  # unset: no metrics server
    metrics_addr: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can reach it


class Metrics:
    """Every metric pagemill's worker-side code updates, with its labels."""

    def __init__(self) -> None:
        self.pages_processed = Counter(
            "pagemill_pages_processed", "Pages OCR'd and stored.", ["provider"])
        self.pages_failed = Counter(
            "pagemill_pages_failed", "Pages of ranges that failed for good.", ["provider"])
        self.ranges = Counter(
            "pagemill_ranges", "Range task outcomes (done, failed, retry, skipped).", ["provider", "outcome"])
        self.range_seconds = Histogram(
            "pagemill_range_seconds", "Time to process one page range, claim to commit.",
            ["provider", "outcome"], buckets=_RANGE_BUCKETS)
        self.retries = Counter(
            "pagemill_retries", "Ranges sent back to the queue with a countdown.", ["provider"])
        self.request_seconds = Histogram(
            "pagemill_request_seconds", "Latency of OCR provider HTTP requests, by status code.",
            ["provider", "status"], buckets=_REQUEST_BUCKETS)
        self.rate_limited = Counter(
            "pagemill_rate_limited", "HTTP 429 answers from the OCR provider.", ["provider"])
        self.batch_jobs = Counter(
            "pagemill_batch_jobs", "Batch API jobs seen reaching a status (QUEUED ... SUCCESS, CANCELLED).", ["status"])
        self.batch_lines = Counter(
            "pagemill_batch_lines", "Batch output lines: stored, failed (given back) or bad (malformed, unknown).",
            ["outcome"])
        self.ratelimit_wait_seconds = Histogram(
            "pagemill_ratelimit_wait_seconds", "Time a request waited for the shared rate limiter.",
            ["limiter"], buckets=_WAIT_BUCKETS)

    def declare(self, provider: str) -> None:
        """Export this provider's counters at 0 before anything happens, so a dashboard (or a check) tells
        "nothing failed yet" from "not exported": a labelled counter is otherwise absent until its first count."""
        for counter in (self.pages_processed, self.pages_failed, self.retries, self.rate_limited):
            counter.labels(provider)


METRICS = Metrics()


def _range_pages(db: Any, range_id: int) -> int:
    from models.tables import PageRange

    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        return len(rng.pages or []) if rng is not None else 0


def observe_range(db: Any, provider: str, range_id: int, status: str, pages_written: int, seconds: float) -> None:
    """Count one range outcome (called by the task). Never raises: metrics must not fail a range."""
    try:
        METRICS.ranges.labels(provider, status).inc()
        METRICS.range_seconds.labels(provider, status).observe(seconds)
        if pages_written:
            METRICS.pages_processed.labels(provider).inc(pages_written)
        if status == "retry":
            METRICS.retries.labels(provider).inc()
        elif status == "failed":
            METRICS.pages_failed.labels(provider).inc(_range_pages(db, range_id))
    except Exception as exc:
        log.debug("metrics not recorded: %s", type(exc).__name__)


class _DefaultRegistry(Collector):
    """Every metric in prometheus_client's default registry (this process's metrics and its process, platform
    and GC collectors), read through its public `collect()` at each scrape."""

    def collect(self) -> Iterable[Any]:
        from prometheus_client import REGISTRY

        return REGISTRY.collect()


def build_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What a scrape returns: this process's metrics (summed over its pool children in multiprocess mode)
    plus `extra` collectors."""
    registry = CollectorRegistry()
    if os.environ.get(_MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    for collector in extra:
        registry.register(collector)
    return registry


def serve_metrics(settings: MetricsSettings | None = None, extra: Iterable[Collector] = ()) -> Any | None:
    """Start the HTTP server when PAGEMILL_METRICS_PORT is set; returns it (with `.shutdown()`), else None.
    A port already taken is logged, not fatal: the work matters more than its metrics."""
    settings = settings or MetricsSettings()
    if settings.metrics_port is None:
        return None
    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.metrics_addr, registry=build_registry(extra))
    except OSError as exc:
        log.warning("metrics not served on %s:%s: %s", settings.metrics_addr, settings.metrics_port, exc)
        return None
    log.info("metrics on http://%s:%s/metrics", settings.metrics_addr, settings.metrics_port)
    return server


def forget_process(pid: int) -> None:
    """A pool child is gone: its gauges leave the multiprocess sum (counters stay counted). Called from the
    Celery worker's signals (worker/tasks/app.py, which also calls serve_metrics on worker_init: connected
    there, so that importing this module loads no Celery)."""
    if os.environ.get(_MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
