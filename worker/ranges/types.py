"""The records of a range's life, shared by its stages: what a claim hands to the provider and the store
(`ClaimedRange`), and what running a range came to (`RangeOutcome`). Below claim.py, store.py, failures.py and
run.py, which all use them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..providers.base import SourceDocument

__all__ = ["ClaimedRange", "RangeOutcome"]


@dataclass
class ClaimedRange:
    range_id: int
    document_id: int
    attempt: int
    pages: list[int]  # pages of the range still missing from the pages table
    source: SourceDocument
    holder: str = ""  # the lease holder written on the row
    object_path: str = ""  # the original (or its decrypted copy) in the object store
    wants_fields: bool = False  # the document was submitted with a schema (worker/extraction/tasks.py)


@dataclass
class RangeOutcome:
    status: str  # done | skipped | failed | retry
    pages_written: int = 0
    retry_in_s: float | None = None
    message: str | None = None
    wants_fields: bool = False  # its document has a schema: extract its fields once it is finished
