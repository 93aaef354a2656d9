"""Keep the last few PDFs a worker process read open, so consecutive ranges of one document skip re-opening it.

Opening a 1600-page PDF costs pypdfium2 about 2.6 ms (it reads the cross-reference table and page tree), ten
times what copying eight of its pages into a small request PDF costs; ranges of one document usually arrive
one after another at the same process. Stored documents are content-addressed and never rewritten, but the key
still includes the file's size and mtime so a replaced file is never served from the cache.

All use happens under worker/documents/inspect.py's PDFIUM_LOCK (PDFium is not thread-safe), which also guards the
cache itself. One cache belongs to one provider instance (built once per worker process), not to the module.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pypdfium2 as pdfium

from .inspect import PDFIUM_LOCK, open_pdf_document

__all__ = ["OpenPdfCache"]

_Key = tuple[str, int, int, str | None]


class OpenPdfCache:
    """A small least-recently-used set of open `PdfDocument`s, closed when evicted or on `close()`."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = max(1, capacity)
        self._open: OrderedDict[_Key, pdfium.PdfDocument] = OrderedDict()
        self.opened = 0  # how many times a file was actually opened (tests read it)

    @contextmanager
    def document(self, path: Path, password: str | None = None) -> Iterator[pdfium.PdfDocument]:
        """The open document at `path`, held under PDFIUM_LOCK for the `with` block. Raises the typed input
        errors of `open_pdf` (encrypted, damaged) and caches nothing then."""
        with PDFIUM_LOCK:
            st = path.stat()
            key: _Key = (str(path), st.st_size, st.st_mtime_ns, password)
            pdf = self._open.get(key)
            if pdf is None:
                pdf = open_pdf_document(path, password)
                self.opened += 1
                self._open[key] = pdf
                while len(self._open) > self.capacity:
                    _, old = self._open.popitem(last=False)
                    old.close()
            else:
                self._open.move_to_end(key)
            yield pdf

    def close(self) -> None:
        with PDFIUM_LOCK:
            while self._open:
                _, pdf = self._open.popitem()
                pdf.close()
