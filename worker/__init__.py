"""Everything that does the work: the Celery tasks and what they call. Dependencies point down this list.

- `tasks/`: the Celery app, the OCR tasks (thin wrappers carrying ids) and per-process resources.
- `ranges/`: the life of one page range: claim and lease, the provider call, storing the result, failures.
- `batch/`: Batch API mode: ranges claimed into jobs, JSONL files, upload, polling, collecting answers.
- `budget/`: spending limits (SQL or Redis), reserving before a request and holding what does not fit.
- `ratelimit/`: the request rate and concurrency shared by every worker (SQL or Redis GCRA).
- `providers/`: the OCR providers behind one interface (local engine, Mistral) and their registry.
- `documents/`: a stored file read for OCR: type and problems, rendering, its text layer, pictures, forms.
- `layout/`: words and lines into structured markdown (headings, lists, tables, figures), for scans and layers.
- `objects/`: the object store (a folder or an S3 bucket) and a host's cache of originals.
- `extraction/`, `vision/`: fields from a JSON schema, and image descriptions, through a chat model.
- `server/`: `pagemill serve`, a Mistral-compatible `/v1/ocr` over the local engine.
- `webhooks/`: signed events (Standard Webhooks) from the outbox (models/outbox.py) to their subscriptions.
- `settings.py` (PAGEMILL_... settings), `http_api.py` (the JSON-over-HTTP plumbing), `keys.py` (Redis keys),
  `redact.py` (secrets out of logs and errors), `logging_setup.py`, `metrics.py` (Prometheus).
"""
