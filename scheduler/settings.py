"""Scheduler settings: intake and sweeps."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.settings import LOCAL_PROVIDERS

__all__ = ["SchedulerSettings", "LOCAL_PAGES_PER_TASK", "API_PAGES_PER_TASK"]

# A range is the unit both of a request to an API and of work handed to a process. An API range is one request
# (fewer, larger requests go further under a requests/s limit); the local engine has no request to amortise, so
# its ranges are small enough that a few documents still spread over every core: with 8 pages a range, three
# 4-page scans kept one of 2 processes idle for a third of `run --archive` (bench/bench_ocrmypdf.py), while a
# range's own cost (claim, store, commit) is ~40 ms CPU, 2 % of 2 pages.
LOCAL_PAGES_PER_TASK = 2
API_PAGES_PER_TASK = 8


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    # pages per range (PAGEMILL_PAGES_PER_TASK); unset, `task_pages` picks it by provider
    pages_per_task: int | None = Field(default=None, ge=1)
    embedded_workers: int = 0  # 0: one worker process per core
    sweep_interval_s: float = 15.0
    requeue_after_s: float = 120.0  # a queued range whose message has not started by then is sent again
    # embedded runs of at most this many pages OCR in processes forked from the command, without Celery workers
    # and their start-up (scheduler/launch/direct.py says when else); 0: always Celery workers
    direct_max_pages: int = Field(default=100, ge=0)
    # intake (scheduler/intake/batch.py): files per transaction, and threads hashing and copying meanwhile
    # (0: 4 for the object folder, 16 for a bucket, whose requests wait on the network)
    intake_batch_files: int = 256
    intake_threads: int = 0

    def task_pages(self, provider: str) -> int:
        """Pages per range for `provider`: PAGEMILL_PAGES_PER_TASK when set, else by provider (see above)."""
        if self.pages_per_task is not None:
            return self.pages_per_task
        return LOCAL_PAGES_PER_TASK if provider in LOCAL_PROVIDERS else API_PAGES_PER_TASK
