"""Batch mode: ranges sent as JSONL lines of Mistral Batch API jobs at half price, polled and stored.

- `client.py`: The Files and Batch API endpoints pagemill uses, over httpx (docs/batch-and-budgets.md).
- `collect.py`: A batch job at the provider: polled with backoff, and once it ends its answers stored.
- `jsonl.py`: The Batch API's files: input lines written from ranges, output and error lines read back.
- `ranges.py`: Which ranges a batch job carries: claiming queued batch ranges into a new job, and giving them back.
- `submit.py`: A claimed batch job on its way to the provider: input file written, uploaded, job created.
"""
