"""The one builder of object stores: `object_store(settings)`, the store PAGEMILL_OBJECTS_URL names.

Every mode builds its store here, from the same WorkerSettings: Celery workers and direct runs (through
worker/tasks/resources.py), submit and watched folders, the batch poller, the review page and `export`. A mode
that builds a store another way ignores PAGEMILL_OBJECTS_URL, which breaks hosts that share only a bucket.

    unset, a path or file://PATH    folder.py   FolderStore: the data folder's objects/ when unset
    s3://bucket/prefix              s3.py       S3Store: any S3-compatible bucket

Adding a store is one module whose class implements worker/objects/store.py's ObjectStore with a
`from_settings(url, settings)` class method, and one entry in STORES. Backends are imported here, on first use
(boto3 only for an s3:// URL); they import the interface, never this module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from models.errors import ConfigError

from .store import ObjectStore

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["STORES", "object_store"]

# URL scheme -> "module:class" in this package; "" is a URL without a scheme (unset, or a folder path)
STORES: dict[str, str] = {
    "": "folder:FolderStore",
    "file": "folder:FolderStore",
    "s3": "s3:S3Store",
}


def object_store(settings: WorkerSettings) -> ObjectStore:
    """The store PAGEMILL_OBJECTS_URL names (the data folder's objects/ when unset). Raises ConfigError for a
    scheme no store serves."""
    url = (settings.objects_url or "").strip()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    entry = STORES.get(scheme)
    if entry is None:
        known = ", ".join(f"{s}://" for s in STORES if s)
        raise ConfigError(f"PAGEMILL_OBJECTS_URL {url!r}: use a folder path or one of {known}")
    module, _, name = entry.partition(":")
    store_class = getattr(importlib.import_module(f".{module}", __package__), name)
    store: ObjectStore = store_class.from_settings(url, settings)
    return store
