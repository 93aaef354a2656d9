"""Everything that produces work or reports on it: intake, planning, submit/run, the command line.

`submit`, `run` and the job types load on first use (PEP 562): the command line imports this package, and a
read-only command must not pay for intake, the Celery app and the OCR engine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .jobs import DocumentSummary, Job, JobProgress
    from .submit import run, submit

__all__ = ["DocumentSummary", "Job", "JobProgress", "run", "submit"]

_HOME = {"DocumentSummary": "jobs", "Job": "jobs", "JobProgress": "jobs", "run": "submit", "submit": "submit"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    # bound after the import, which binds a submodule of the same name (scheduler.submit) over it
    globals()[name] = value
    return value
