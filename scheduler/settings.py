"""Scheduler settings: intake and sweeps."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SchedulerSettings"]


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    pages_per_task: int = 8
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
