"""The Celery app, its OCR tasks and the resources each worker process builds once.

- `app.py`: The Celery app: the only global mutable state in pagemill.
- `redis_broker.py`: kombu's Redis transport, subclassed so a worker outlives a Redis restart.
- `ocr.py`: Celery tasks: thin wrappers that carry ids and call the pipeline.
- `resources.py`: Per-process resources, built once per worker process (never per task) and closed at shutdown.
"""
