"""Page images for the browser: one page of the original rendered to PNG on demand, cached in the data folder.

The browser never receives the PDF. The cache file is named from the document's SHA-256 (from the database),
the page number and the resolution, all pagemill's own values, so no request can name a path."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from models.errors import ConfigError, InputError

__all__ = ["PageImages"]


class PageImages:
    def __init__(self, cache_dir: Path, dpi: int) -> None:
        self.cache_dir = cache_dir
        self.dpi = dpi

    def png(self, original: Path, sha256: str, mime_type: str | None, page_count: int, page_index: int) -> Path:
        """The cached PNG of one page, rendered first if needed. Raises ConfigError for a page that does not
        exist and InputError when the original cannot be rendered."""
        if not 0 <= page_index < max(page_count, 1):
            raise ConfigError(f"no page {page_index}")
        if not all(c in "0123456789abcdef" for c in sha256):
            raise ConfigError("not a document hash")
        target = self.cache_dir / sha256[:2] / f"{sha256}-{page_index}-{self.dpi}.png"
        if target.exists():
            return target
        data = self._render(original, mime_type, page_count, page_index)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)  # two requests for one page render twice at worst, never half a file
        return target

    def _render(self, original: Path, mime_type: str | None, page_count: int, page_index: int) -> bytes:
        from worker.documents.render import render_pages
        from worker.providers.base import SourceDocument

        kind = "pdf" if mime_type == "application/pdf" else "image"
        source = SourceDocument(path=original, mime_type=mime_type or "", kind=kind, page_count=page_count)
        try:
            for rendered in render_pages(source, [page_index], dpi=self.dpi):
                image = rendered.image
                if kind == "pdf" and rendered.dpi > self.dpi * 1.5:  # a stored scan image at full resolution
                    scale = self.dpi / rendered.dpi
                    image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
                buf = io.BytesIO()
                image.save(buf, "PNG", optimize=False)
                return buf.getvalue()
        except (OSError, ValueError, RuntimeError) as exc:  # PdfiumError is a RuntimeError
            raise InputError(f"the original cannot be rendered: {type(exc).__name__}") from None
        raise ConfigError(f"no page {page_index}")
