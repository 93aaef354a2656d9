"""Celery tasks of the vision step: `pagemill.describe_document` plans, `pagemill.describe_image` describes.

    enqueue_after_range(range_id)   # called by the OCR task when a range's pages are stored (a no-op unless
                                    # PAGEMILL_VISION_BASE_URL is set)

Each image is its own task, so the shared "vision" rate limiter and in-flight cap pace them across workers.
429/5xx/timeouts retry with a countdown (Retry-After honoured, backoff otherwise); a refusal by our own limiter
does not use up the attempts of PAGEMILL_VISION_MAX_ATTEMPTS as fast. 401/403 stop: the image is marked as
given up, and the rest of this process's vision tasks give up at once instead of sending the bad key again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown

from models.errors import PagemillError, ProviderAuthError, RateLimited
from models.tables import PageRange

from ..ranges.retry import backoff_s
from ..ratelimit.limiter import build_limiter
from ..redact import redact
from ..tasks.app import app
from .client import VisionClient
from .describe import describe_stored_image, mark_failed, plan_document
from .settings import VisionSettings

__all__ = ["describe_document", "describe_image", "enqueue_after_range", "VisionTask"]

log = logging.getLogger("pagemill.worker.vision")
_RATE_LIMITED_ATTEMPTS_FACTOR = 10  # waiting for a slot is not a failure of the image


@dataclass
class _VisionResources:
    pid: int
    settings: VisionSettings
    client: VisionClient
    stopped: str | None = None  # the auth error that stopped vision in this process


class VisionTask(Task):  # type: ignore[misc]
    """Holds one vision client (and its limiter) per worker process, built on first use (Celery's
    per-process task instance is the documented place for such a resource)."""

    _vision: _VisionResources | None = None

    def vision(self) -> _VisionResources:
        if self._vision is None or self._vision.pid != os.getpid():
            settings = app.resources().vision
            limiter = build_limiter(
                app.settings, name="vision", rate_per_s=settings.rate_limit, max_inflight=settings.max_inflight,
                lease_s=settings.timeout_s + 30,
            )
            client = VisionClient.from_settings(settings, app.settings.api_key, limiter)
            self._vision = _VisionResources(os.getpid(), settings, client)
        return self._vision


@app.task(name="pagemill.describe_document", base=VisionTask, bind=True, acks_late=True,
          reject_on_worker_lost=True)
def describe_document(self: VisionTask, document_id: int, pages: list[int] | None = None) -> int:
    """Queue a describe_image task for each image of `pages` (all when None) worth describing."""
    res = app.resources()
    settings = res.vision
    if not settings.enabled:
        return 0
    try:
        ids = plan_document(res.db, res.objects, document_id, pages, settings)
    except PagemillError as err:
        log.warning("vision: document %s not planned: %s", document_id, redact(err.message))
        return 0
    for image_id in ids:
        describe_image.apply_async(args=[image_id], queue=app.settings.queue)
    return len(ids)


def _give_up(image_id: int, err: PagemillError, v: _VisionResources) -> str:
    message = redact(err.message)  # the client already masked its own key in the message
    log.error("vision: image %s not described: %s", image_id, message)
    mark_failed(app.resources().db, image_id, v.settings.model)
    return f"failed: {err.code}: {message}"


@app.task(name="pagemill.describe_image", base=VisionTask, bind=True, max_retries=None, acks_late=True,
          reject_on_worker_lost=True)
def describe_image(self: VisionTask, image_id: int) -> str:
    v = self.vision()
    if v.stopped is not None:
        return _give_up(image_id, ProviderAuthError(v.stopped), v)
    res = app.resources()
    try:
        desc = describe_stored_image(res.db, res.objects, v.client, image_id, v.settings)
    except PagemillError as err:
        s = v.settings
        attempt = int(self.request.retries or 0) + 1
        allowed = s.max_attempts * (_RATE_LIMITED_ATTEMPTS_FACTOR if isinstance(err, RateLimited) else 1)
        if err.retryable and attempt < allowed:
            hinted = float(getattr(err, "retry_after_s", 0) or 0)  # Retry-After, or the limiter's own wait
            wait = max(backoff_s(attempt, s.retry_base_s, s.retry_max_s), hinted)
            raise self.retry(countdown=min(wait, s.retry_max_s)) from None
        if isinstance(err, ProviderAuthError):
            v.stopped = err.message
        return _give_up(image_id, err, v)
    return "done" if desc is not None else "skipped"


def enqueue_after_range(range_id: int) -> None:
    """After a range's pages are stored: describe its images (when vision is configured)."""
    try:
        res = app.resources()
        if not res.vision.enabled:
            return
        with res.db.read_session() as s:
            rng = s.get(PageRange, range_id)
            if rng is None:
                return
            document_id, pages = rng.document_id, list(rng.pages)
        describe_document.apply_async(args=[document_id, pages], queue=app.settings.queue)
    except Exception as exc:
        log.warning("vision: range %s not queued for description (%s: %s)", range_id, type(exc).__name__,
                    redact(str(exc)))


@worker_process_shutdown.connect
def _close_vision(**_: Any) -> None:
    v = describe_image._vision
    if v is not None and v.pid == os.getpid():
        v.client.close()
    describe_image._vision = None
