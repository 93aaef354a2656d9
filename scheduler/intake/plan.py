"""Planning: which pages of a document to OCR, split into page ranges (one Celery task each)."""

from __future__ import annotations

from collections.abc import Sequence

from models.errors import ConfigError

__all__ = ["parse_pages", "split_ranges"]


def parse_pages(spec: str | Sequence[int] | None, page_count: int) -> list[int]:
    """Pages to process, 0-based, as the Mistral `pages` field takes them: "0-3,7" or [0, 1, 2, 3, 7].

    Pages past the end of the document are dropped (a batch may mix long and short documents)."""
    if spec is None or spec == "" or spec == "all":
        return list(range(page_count))
    pages: set[int] = set()
    if isinstance(spec, str):
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            try:
                if "-" in part:
                    lo_s, hi_s = part.split("-", 1)
                    lo, hi = int(lo_s), int(hi_s) if hi_s else page_count - 1
                    if lo > hi:
                        raise ValueError
                    pages.update(range(lo, hi + 1))
                else:
                    pages.add(int(part))
            except ValueError:
                raise ConfigError(
                    f"cannot read the page selection {spec!r}: use 0-based pages like 0-3,7"
                ) from None
    else:
        pages.update(int(p) for p in spec)
    if any(p < 0 for p in pages):
        raise ConfigError(f"page numbers are 0-based and cannot be negative: {spec!r}")
    return sorted(p for p in pages if p < page_count)


def split_ranges(pages: Sequence[int], pages_per_task: int, max_pages_per_request: int = 1000) -> list[list[int]]:
    """Consecutive chunks of at most `pages_per_task` pages (never over the provider's page limit)."""
    size = max(1, min(pages_per_task, max_pages_per_request))
    return [list(pages[i : i + size]) for i in range(0, len(pages), size)]
