"""The Celery app: the only global mutable state in pagemill.

Settings that matter, each checked where it takes effect by tests/worker/tasks/test_celery_settings.py (what
a crash costs: docs/faults.md): late acks with reject-on-worker-lost (at-least-once: tasks are idempotent and
attempts are capped in the database), prefetch 1, a visibility timeout longer than any countdown plus the time
limit, kombu's unacked-restore sweep every ~10 s instead of ~100 s, results ignored (state lives in the
database).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

# SIGTERM starts Celery's soft shutdown (running ranges get worker_soft_shutdown_timeout to finish, then their
# messages go back to the queue) instead of a warm shutdown that waits without limit. billiard reads this
# once at import, so it must be set before celery is imported; an explicit setting wins.
os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")

from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from kombu import pools

from ..metrics import forget_process, serve_metrics
from ..redact import install_log_redaction
from ..settings import WorkerSettings
from .broker import TRANSPORT as EMBEDDED_TRANSPORT
from .redis_broker import SCHEMES as REDIS_SCHEMES
from .redis_broker import TRANSPORT as REDIS_TRANSPORT
from .resources import Resources

__all__ = ["app", "configure", "celery_config", "PagemillCelery", "PagemillAMQP"]


class PagemillAMQP(AMQP):
    """Celery's AMQP helper, with its producer pool looked up for the broker configured now (Celery's caches the
    first one it builds for the app's life)."""

    _producers: tuple[tuple[Any, ...], Any] | None = None

    @property
    def producer_pool(self) -> Any:
        key = self.app.broker_key()
        if self._producers is None or self._producers[0] != key:
            pool = pools.producers[self.app.connection_for_write()]
            pool.limit = self.app.pool.limit
            self._producers = (key, pool)
        return self._producers[1]

    publisher_pool = producer_pool


class PagemillCelery(Celery):
    """A Celery app that also owns the per-process resources (database, object store, provider).

    `configure` may point the app at another broker (a test's or a run's data folder): its connection and
    producer pools are the ones kombu's pool registry holds for the broker configured now, found by the
    connection's parameters, rather than the first ones built, which Celery keeps for the app's life. kombu's
    registry is emptied after a fork.
    """

    amqp_cls = f"{__name__}:PagemillAMQP"
    settings: WorkerSettings
    _resources: Resources | None = None
    # threads of this process that use the results database at once (set from the pool at worker start)
    db_connections: int = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the threads pool's first tasks all ask at once: without it each built its own database pool, HTTP
        # client and lease keeper thread (seen: 7 per process with 8 threads), and all but one leaked
        self._resources_lock = threading.Lock()

    _connections: tuple[tuple[Any, ...], Any] | None = None

    # counts `configure` calls: pools found for an earlier configuration are looked up again
    configuration: int = 0

    def broker_key(self) -> tuple[int, int]:
        """What the broker's pools depend on: the configuration, and the process (kombu's registry is emptied
        after a fork). Celery's settings are not read here: a lookup costs 10-30 us, paid for every message."""
        return os.getpid(), self.configuration

    @property
    def pool(self) -> Any:
        key = self.broker_key()
        if self._connections is None or self._connections[0] != key:
            pools.set_limit(self.conf.broker_pool_limit)
            self._connections = (key, pools.connections[self.connection_for_write()])
        return self._connections[1]

    def resources(self) -> Resources:
        res = self._resources
        if res is not None and res.pid == os.getpid():
            return res
        with self._resources_lock:
            if self._resources is None or self._resources.pid != os.getpid():
                self._resources = Resources.build(self.settings, self.db_connections)
            return self._resources

    def close_resources(self) -> None:
        if self._resources is not None and self._resources.pid == os.getpid():
            self._resources.close()
        self._resources = None


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    countdown_cap = settings.retry_max_s
    visibility = max(settings.visibility_timeout_s, int(countdown_cap + settings.task_time_limit_s + 60))
    transport: dict[str, Any] = {}
    url = settings.effective_broker_url
    kind = None
    if settings.embedded_broker:
        # kombu's SQLAlchemy transport, subclassed (worker/tasks/broker.py): the URL without its "sqla+" prefix,
        # which would name kombu's own class
        url, kind = url.removeprefix("sqla+"), EMBEDDED_TRANSPORT
    else:
        transport = {
            "visibility_timeout": visibility,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        }
        if url.split("://", 1)[0] in REDIS_SCHEMES:
            kind = REDIS_TRANSPORT  # kombu's, surviving a Redis restart (worker/tasks/redis_broker.py)
    return {
        "broker_url": url,
        "broker_transport": kind,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit_s,
        "task_soft_time_limit": max(1, settings.task_time_limit_s - 30),
        "task_default_queue": settings.queue,
        "worker_soft_shutdown_timeout": 10.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
    }


def configure(celery: PagemillCelery, settings: WorkerSettings) -> PagemillCelery:
    celery.settings = settings
    celery.conf.update(celery_config(settings))
    celery.configuration += 1
    celery.close_resources()
    if settings.embedded_broker:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _owner_only(settings.data_dir / "broker.sqlite")
    return celery


def _owner_only(path: Path) -> None:
    """Create the embedded broker's file owner-only before kombu creates it with the umask (messages carry
    range ids only, but the data folder is private as a whole)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
    except OSError:
        pass


app = configure(PagemillCelery("pagemill", include=["worker.tasks.ocr", "worker.vision.tasks", "worker.extraction.tasks"]),
                WorkerSettings())


def _pool_name(pool: Any) -> str:
    """A pool given as a name ("threads") or as a class, lower-cased."""
    name = pool if isinstance(pool, str) else f"{getattr(pool, '__module__', '')}.{getattr(pool, '__name__', '')}"
    return name.lower()


def database_connections(pool: Any, concurrency: Any) -> int:
    """Connections a worker process keeps open: one per thread of a threads pool, plus the lease keeper and one
    spare. A smaller pool closes and reopens connections all the time, and on PostgreSQL each is a new server
    process (measured with 16 threads and the old fixed pool of 5: 389 new connections for 1000 ranges).
    A prefork child runs one range at a time."""
    if "thread" in _pool_name(pool) and isinstance(concurrency, int) and concurrency > 0:
        return concurrency + 2
    return 3


def _warm_resources() -> None:
    """Build this process's resources (and load the OCR engine or open the HTTP client) now, while the first
    messages are still on their way, instead of inside the first tasks; a failure here is retried by a task."""
    try:
        warm = getattr(app.resources().provider, "warm", None)
        if callable(warm):
            warm()
    except Exception:
        try:
            app.close_resources()
        except Exception:
            app._resources = None


def _runs_tasks_in_this_process(pool: Any) -> bool:
    """The threads and solo pools run tasks in the worker's own process; prefork runs them in forked children."""
    name = _pool_name(pool)
    return "thread" in name or "solo" in name


@worker_init.connect
def _serve_metrics_from_main_process(**_: Any) -> None:
    # connected first: served before the pool forks; the children's counts reach it through the multiprocess folder
    serve_metrics()


@worker_process_shutdown.connect
def _forget_dead_child(pid: int | None = None, **_: Any) -> None:
    forget_process(pid or os.getpid())


@worker_init.connect
def _prepare_worker(sender: Any, **_: Any) -> None:
    app.db_connections = database_connections(sender.pool_cls, sender.concurrency)
    if _runs_tasks_in_this_process(sender.pool_cls):
        _warm_resources()


@worker_process_init.connect
def _fresh_resources_after_fork(**_: Any) -> None:
    # connections and engines must never cross a fork, nor a lock some parent thread might have held at it
    app._resources = None
    app._resources_lock = threading.Lock()
    install_log_redaction()
    _warm_resources()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: Any = None, **_: Any) -> None:
    install_log_redaction()
    if logger is not None:
        install_log_redaction(logger)


@worker_process_shutdown.connect  # a prefork child
@worker_shutdown.connect  # the worker itself: the threads and solo pools run tasks in this process
def _close_resources(**_: Any) -> None:
    app.close_resources()
