"""Starting work and following it: submit/run (`submit.py`), a small run in forked processes (`direct.py`) or
with embedded Celery workers (`embedded.py`), the job handle (`jobs.py`), retry and cancel (`rerun.py`), a page
OCR'd again (`reocr.py`), fields extracted from stored markdown (`extract.py`).

- `direct.py`: Direct processing: a small embedded `pagemill run` OCRs with processes forked from itself, without ...
- `embedded.py`: Embedded mode: `pagemill run` starts its own worker processes and stops them when the work is done.
- `extract.py`: extract_documents(): the Python API behind `pagemill extract` (fields from stored markdown, no OCR).
- `jobs.py`: A job handle: what a run/submit covered, its progress and its summary, read from the database.
- `reocr.py`: OCR one stored page again (another provider or settings), behind the review page's re-OCR action.
- `rerun.py`: Re-running failed ranges and cancelling queued work, behind `pagemill retry` and `pagemill cancel`.
- `submit.py`: submit() and run(): the Python API behind `pagemill submit` and `pagemill run`.
- `webhooks.py`: Webhooks during an embedded run: a `pagemill webhooks deliver --follow` process beside the workers.
"""
