"""Webhooks during an embedded run: a deliverer beside the workers, so a long `run` sends its events while it
runs, not only at its end.

With Celery workers (started by exec, never forked from `run`) it is a thread of `run` (`DeliveryThread`): no
interpreter to start, which on a busy machine cost the pipeline more than the sending. With direct processing it
is a `pagemill webhooks deliver --follow` process (`DeliveryProcess`): direct processing forks workers from
`run`, and a fork taken while a delivery thread holds a lock (the connection pool's, the HTTP client's) would
leave the child blocked on it for ever. Either is started only when a subscription is enabled (or
PAGEMILL_WEBHOOK_URL is set), so a run without webhooks pays nothing; the run's bounded flush at its end
(submit.py `_send_webhooks`) still sends what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import TracebackType
from typing import Any

from sqlalchemy import exists, select

from models.db import Database
from models.tables import WebhookSubscription
from worker.settings import WorkerSettings
from worker.webhooks.settings import WebhookSettings

__all__ = ["DeliveryProcess", "DeliveryThread", "webhooks_wanted"]


def webhooks_wanted(db: Database) -> bool:
    """Is any subscription enabled? The deployment's one (PAGEMILL_WEBHOOK_URL) is written first, so the events
    of this run's documents are written for it (a subscription gets the events written after it exists)."""
    settings = WebhookSettings()
    if settings.url:
        from worker.webhooks.subscriptions import sync_settings_subscription  # only then: it loads the signer

        sync_settings_subscription(db, settings)
    with db.read_session() as s:
        return bool(s.scalar(select(exists().where(WebhookSubscription.enabled.is_(True)))))


class DeliveryProcess:
    """`pagemill webhooks deliver --follow` for the length of a `with` block."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DeliveryProcess:
        env = dict(os.environ)
        for key, value in self.settings.child_env().items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        env["PAGEMILL_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["PAGEMILL_EXIT_WITH_PARENT"] = str(os.getpid())  # it must not outlive this run, even a kill -9
        self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = open(os.open(self.settings.data_dir / "webhooks.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                   "ab")
        with log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scheduler.cli", "webhooks", "deliver", "--follow"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """SIGTERM: requests under way end (bounded by the HTTP time-outs); what it has not sent, the run's flush
        or the scheduler sends (a lease cut short by a kill runs out and the delivery goes again)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(WebhookSettings().timeout_s + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class DeliveryThread:
    """worker/webhooks/deliver.py's `Deliverer` thread for the length of a `with` block."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.thread: Any = None

    def __enter__(self) -> DeliveryThread:
        from worker.webhooks.deliver import Deliverer  # loads the HTTP client: only when there is a subscription

        self.thread = Deliverer(self.db)
        self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.thread.stop(WebhookSettings().timeout_s + 10)  # requests under way end; the flush sends the rest
