"""The scheduler's metrics: the state of the whole system, read on each scrape.

Queue depth comes from the broker and documents/ranges by status from the database, at the moment Prometheus
asks, so the figures are right however many workers run and whichever of them did the work. Served by
`pagemill scheduler` on PAGEMILL_METRICS_PORT (worker/metrics.py holds the server and the worker-side counts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from models.db import Database
from models.tables import DocStatus, Document, PageRange, RangeStatus
from worker.metrics import MetricsSettings, serve_metrics
from worker.settings import WorkerSettings

from ..sweep.periodic import queue_depth

__all__ = ["SystemCollector", "serve_scheduler_metrics"]

log = logging.getLogger("pagemill.metrics")

_DOC_STATES = (DocStatus.queued, DocStatus.running, DocStatus.done, DocStatus.partial, DocStatus.failed,
               DocStatus.cancelled)
_RANGE_STATES = (RangeStatus.queued, RangeStatus.running, RangeStatus.done, RangeStatus.failed,
                 RangeStatus.cancelled)


class SystemCollector(Collector):
    """`pagemill_queue_depth{queue}`, `pagemill_documents{status}`, `pagemill_page_ranges{status}`."""

    def __init__(self, db: Database, settings: WorkerSettings) -> None:
        self.db, self.settings = db, settings

    def _counts(self, column: Any) -> dict[str, int]:
        with self.db.read_session() as s:
            return {str(k): int(v) for k, v in s.execute(select(column, func.count()).group_by(column)).all()}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = queue_depth(self.settings)
        queue = GaugeMetricFamily(
            "pagemill_queue_depth", "Messages waiting in the broker queue (not those held by workers).",
            labels=["queue"])
        if depth is not None:
            queue.add_metric([self.settings.queue], depth)
        yield queue
        for name, doc, column, states in (
            ("pagemill_documents", "Documents by status.", Document.status, _DOC_STATES),
            ("pagemill_page_ranges", "Page ranges by status.", PageRange.status, _RANGE_STATES),
        ):
            family = GaugeMetricFamily(name, doc, labels=["status"])
            try:
                counts = self._counts(column)
            except Exception as exc:  # the database is away: say nothing rather than zeros
                log.warning("%s not collected: %s", name, type(exc).__name__)
                yield family
                continue
            for state in dict.fromkeys((*states, *counts)):
                family.add_metric([state], counts.get(state, 0))
            yield family


def serve_scheduler_metrics(db: Database, settings: WorkerSettings) -> Any | None:
    """Serve this process's metrics plus the system-wide ones when PAGEMILL_METRICS_PORT is set."""
    return serve_metrics(MetricsSettings(), extra=[SystemCollector(db, settings)])
