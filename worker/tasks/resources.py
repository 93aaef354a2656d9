"""Per-process resources, built once per worker process (never per task) and closed at shutdown."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from models.db import Database
from models.settings import DatabaseSettings

from ..budget.limit import Budget, build_budget
from ..documents.inspect import DocumentLimits
from ..metrics import METRICS
from ..objects.registry import object_store
from ..objects.store import ObjectStore
from ..providers import get_provider
from ..providers.base import OcrProvider
from ..ranges.lease import LeaseKeeper
from ..settings import WorkerSettings
from ..vision.settings import VisionSettings

__all__ = ["Resources", "limits_from"]

log = logging.getLogger("pagemill.worker")


def limits_from(settings: WorkerSettings) -> DocumentLimits:
    return DocumentLimits(
        max_file_bytes=settings.max_file_mb * 1024 * 1024,
        max_pages=settings.max_pages,
        max_image_pixels=settings.max_image_pixels,
    )


@dataclass
class Resources:
    pid: int
    settings: WorkerSettings
    db: Database
    objects: ObjectStore
    provider: OcrProvider
    vision: VisionSettings  # read once: building pydantic settings from the environment costs ~0.5 ms a range
    leases: LeaseKeeper
    budget: Budget  # spending limits shared by every process (worker/budget/limit.py)

    @classmethod
    def build(cls, settings: WorkerSettings, db_connections: int = 5) -> Resources:
        """`db_connections`: how many threads of this process use the database at once."""
        db = Database.from_settings(DatabaseSettings(data_dir=settings.data_dir), pool_size=db_connections)
        objects = object_store(settings)
        provider = get_provider(settings)
        METRICS.declare(provider.name)
        return cls(
            os.getpid(), settings, db, objects, provider, VisionSettings(),
            LeaseKeeper(db, settings.lease_s), build_budget(settings, db),
        )

    def close(self) -> None:
        self.leases.close()
        self.provider.close()
        self.budget.close()
        self.objects.close()
        self.db.dispose()
