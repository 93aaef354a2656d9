"""What every step of intake is given: the options of one submission (`IntakeOptions`). Below prepare.py,
fields.py, register.py and batch.py, which all read them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IntakeOptions"]


@dataclass(frozen=True)
class IntakeOptions:
    pages: str | list[int] | None = None
    pages_per_task: int = 8
    force: bool = False
    password: str | None = None
    collection: str | None = None
    batch: bool = False  # the ranges go out as Batch API jobs (scheduler/sweep/batch_poller.py), not to the workers
