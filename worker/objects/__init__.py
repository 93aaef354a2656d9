"""The object store: originals, decrypted working copies and extracted images, in a folder or a bucket.

Build one with `object_store(settings)` (registry.py); every mode (Celery workers, direct runs, the batch poller, serve, the
review page, exports) builds it from the same settings.

- `cache.py`: A host's bounded cache of the originals it works on, for a remote object store.
- `folder.py`: The object folder store: objects as files under one folder (the default, <data>/objects).
- `registry.py`: `object_store(settings)`, the one builder: which store PAGEMILL_OBJECTS_URL names.
- `s3.py`: The bucket store: objects in any S3-compatible bucket (PAGEMILL_OBJECTS_URL=s3://bucket/prefix).
- `store.py`: The interface every store implements (below the stores: they import it, never the reverse).
"""
