"""The Celery app and tasks, OCR providers, rate limiter and object-folder writer."""
