"""An OCR provider that answers at once with one billed page per page asked for, as a fast OCR API would: for
tests of what the pipeline does around the provider (claims, stores, concurrency)."""

from __future__ import annotations

from collections.abc import Sequence

from worker.providers.base import OcrPage, OcrResult, OcrUsage, SourceDocument

__all__ = ["InstantProvider"]


class InstantProvider:
    name = "mistral"
    model = "mistral-ocr-latest"

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        return OcrResult(
            pages=[OcrPage(index=p, markdown=f"text of page {p} of {source.path.name}") for p in pages],
            model=self.model,
            usage=OcrUsage(pages_processed=len(pages)),
            billed=True,
        )

    def close(self) -> None:
        pass
