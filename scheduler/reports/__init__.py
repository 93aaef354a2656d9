"""What `pagemill status`, `usage`, `estimate` and `fields` print, and the scheduler's metrics: read-only
queries over the database.

- `batch.py`: Batch jobs as `pagemill status` shows them: id, the provider's job, status, requests done/failed, ...
- `estimate.py`: What a run would bill, before anything is sent: `pagemill estimate PATH...`.
- `fields.py`: The extracted fields of one schema as rows: `document_id, filename`, then the schema's top-level ...
- `metrics.py`: The scheduler's metrics: the state of the whole system, read on each scrape.
- `status.py`: Read-side reports behind `pagemill status` and `pagemill show`.
- `totals.py`: The totals `pagemill status` starts with: documents and pages by state, the recent rate and an ETA.
- `usage.py`: Queries over the usage ledger (`usage` table): pages billed and estimated cost, grouped three ways.
"""
