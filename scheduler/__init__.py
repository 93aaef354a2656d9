"""Everything that produces work or reports on it, and the command line.

- `intake/`: a submitted file stored, inspected, deduplicated, registered and split into page ranges.
- `launch/`: submit/run, direct and embedded runs, job handles, retry/cancel, re-OCR, extraction of fields.
- `watch/`: watched folders. `sweep/`: periodic sweeps and the batch poller.
- `reports/`: status, usage, estimate, fields, metrics. `export/`: markdown, JSON, zip and searchable PDF out.
- `commands/`: the `pagemill` commands, one module per group (`cli.py` registers them). `ui/`: the review page.
- `console.py` (shared pieces of the command line), `settings.py`, `samples.py` (documents with known text).

`submit`, `run` and the job types load on first use (PEP 562): the command line imports this package, and a
read-only command must not pay for intake, the Celery app and the OCR engine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .launch.jobs import DocumentSummary, Job, JobProgress
    from .launch.submit import run, submit

__all__ = ["DocumentSummary", "Job", "JobProgress", "run", "submit"]

_HOME = {"DocumentSummary": "launch.jobs", "Job": "launch.jobs", "JobProgress": "launch.jobs", "run": "launch.submit",
         "submit": "launch.submit"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    # bound after the import, which binds a submodule of the same name (scheduler.launch.submit) over it
    globals()[name] = value
    return value
