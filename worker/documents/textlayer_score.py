"""The text-layer quality check on text alone: is what a PDF page's text layer says real text, in any script?

The score (0..1) is the product of
    printable share x (1 - 10 x garbage share) x word-like share x scan factor
where the scan factor is 1 unless images cover most of the page and the text on it is hidden (drawn invisibly,
or under the picture: an OCR layer), and then the text density (characters per square inch) against
`SCAN_MIN_DENSITY`. No part of the check depends on a language: garbage is judged by what it looks like in any
script (control, private-use and replacement characters, glyph names, a mix of unrelated scripts inside one
word, a Latin alphabet mapped to the wrong letters). A layer passes at `PASS_THRESHOLD`; a hidden layer over a
full-page picture (an earlier OCR) must reach `OCR_LAYER_THRESHOLD`. worker/documents/textlayer.py measures
the page's objects and reads the layers that pass.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .wordlike import is_wordlike

__all__ = [
    "TextLayerScore",
    "score_text_layer",
    "PASS_THRESHOLD",
    "OCR_LAYER_THRESHOLD",
    "SCAN_MIN_DENSITY",
    "SCAN_IMAGE_COVER",
    "JOINED_HYPHEN",
]

PASS_THRESHOLD = 0.6
OCR_LAYER_THRESHOLD = 0.8
# a text page holds 20-40 characters per square inch; an OCR layer that found less than this on a
# full-page picture missed most of the page
SCAN_MIN_DENSITY = 10.0
SCAN_IMAGE_COVER = 0.5

_BAD_CHARS = {"\ufffd", "\ufffe", "\uffff"}
_ALLOWED_FORMAT = {"\xad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}  # soft hyphen, zero-width marks
_GLYPH_NAMES = re.compile(r"(?:/(?:g|cid|glyph|uni)[0-9A-Fa-f]+|\(cid:\d+\))+")
_EDGE_PUNCT = "\"'.,;:!?()[]<>«»“”„‘’‚—–-…*•·§¶"
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
# web and mail addresses are not words but are what such pages print
_ADDRESS = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_PUNCT_RUN = re.compile(r"[^\w]+")
_PARTS = re.compile(r"[^\W\d_]+")
_NUMBER = re.compile(r"[#$€£¥+\-]?(?=[\w.,:/%+\-]*\d)[\w.,:/%+\-]+")
# pdfium writes U+FFFE where it joined a word hyphenated across two lines
JOINED_HYPHEN = re.compile(r"(?<=[^\W\d_])\ufffe(?=[^\W\d_])")


@dataclass(frozen=True)
class TextLayerScore:
    """The components of the check, the score made from them and the threshold it must reach."""

    chars: int  # non-whitespace characters in the layer
    printable: float  # share of those that are printable (no control, private-use or unassigned codes)
    garbage_runs: int  # runs of control characters and of glyph names such as /g123 or (cid:42)
    garbage_share: float  # share of the characters inside such runs
    word_share: float  # share of token characters in word-like tokens (words, numbers, codes)
    density: float  # characters per square inch of page
    image_cover: float  # share of the page area under images
    # share of text objects a viewer cannot see: drawn invisibly (render mode 3) or under a picture that
    # covers most of the page, the two ways OCR tools lay their text over a scan
    invisible: float
    score: float
    threshold: float
    blank: bool = False  # no text and nothing drawn: an empty page

    @property
    def passed(self) -> bool:
        return self.blank or self.score >= self.threshold

    def reasons(self) -> list[str]:
        """Why the layer is not trusted, in words (empty when it passes)."""
        if self.passed:
            return []
        if self.chars == 0:
            return ["no text layer"]
        out: list[str] = []
        if self.printable < 0.98 or self.garbage_runs:
            out.append(f"{self.garbage_runs} runs of control characters or glyph names")
        if self.word_share < 0.75:
            out.append(f"only {self.word_share:.0%} of the text looks like words")
        if self.image_cover >= SCAN_IMAGE_COVER and self.density < SCAN_MIN_DENSITY:
            out.append(f"a scanned page with a sparse text layer ({self.density:.1f} characters per square inch)")
        return out or [f"score {self.score:.2f} under {self.threshold:.2f}"]

    def describe(self) -> str:
        verdict = "blank page" if self.blank else ("good" if self.passed else "; ".join(self.reasons()))
        return f"text layer score {self.score:.2f} (threshold {self.threshold:.2f}): {verdict}"


def _is_bad_char(ch: str) -> bool:
    if ch in _BAD_CHARS:
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Cs") and ch not in _ALLOWED_FORMAT


def _garbage(text: str) -> tuple[int, int]:
    """(runs, characters) of control characters and of glyph-name sequences."""
    runs = chars = 0
    in_run = False
    for ch in text:
        if ch.isspace():
            in_run = False
            continue
        if _is_bad_char(ch):
            chars += 1
            runs += not in_run
            in_run = True
        else:
            in_run = False
    for m in _GLYPH_NAMES.finditer(text):
        runs += 1
        chars += len(m.group())
    return runs, chars


# scripts written together in one word: Chinese, Japanese and Korean text mixes ideographs with kana or hangul
_SCRIPT_GROUPS = {"CJK": "east-asian", "HIRAGANA": "east-asian", "KATAKANA": "east-asian", "HANGUL": "east-asian",
                  "IDEOGRAPHIC": "east-asian", "HALFWIDTH": "east-asian", "FULLWIDTH": "latin", "LATIN": "latin"}


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    try:
        first = unicodedata.name(ch).split()[0]
    except ValueError:
        return "unknown"
    return _SCRIPT_GROUPS.get(first, first.lower())


def _latin_is_wordlike(part: str) -> bool:
    accented = sum(1 for ch in part if ord(ch) > 0x7F)
    # text decoded with the wrong single-byte encoding (Cyrillic or Greek read as Latin-1, say) comes out as
    # runs of accented letters: no language spells most of a long word with them
    if len(part) >= 4 and accented > len(part) / 2:
        return False
    return is_wordlike(part)


def _token_is_wordlike(core: str) -> bool:
    """Word-like in any script. Latin-script words are checked against letter-bigram statistics, which catch
    a font whose glyphs map to the wrong letters (a shifted or permuted alphabet). Words in other scripts have
    no such model here; what marks garbage in them is a mix of unrelated scripts inside one word, since a
    broken font maps its glyph codes onto whatever code points they happen to hit. Control, private-use and
    replacement characters count against the page in `_garbage`, whatever the script."""
    if _WORD.fullmatch(core):
        scripts = {_script(ch) for ch in core if ch.isalpha()}
        others = scripts - {"latin"}
        if len(others) > 1 or "unknown" in others:
            return False
        latin = [p for p in _PARTS.findall(core) if all(_script(ch) == "latin" for ch in p)]
        if not latin:
            return True
        parts = [p for p in latin if len(p) > 1] or latin
        return all(_latin_is_wordlike(p) for p in parts)
    return bool(_NUMBER.fullmatch(core))


def _pieces(token: str) -> list[str]:
    """A token in a script without spaces cut at its punctuation: Chinese and Japanese write no spaces, so a
    line is one token with its commas, full stops and brackets (、，。：（）) inside it."""
    if token.isascii():
        return [token]
    return [p for p in _PUNCT_RUN.split(token) if p]


def _word_share(text: str) -> float:
    good = total = 0
    for token in text.split():
        for piece in _pieces(token):
            core = piece.strip(_EDGE_PUNCT)
            if not core:
                continue  # a dash or a bullet on its own says nothing
            total += len(core)
            if _token_is_wordlike(core) or _ADDRESS.fullmatch(core):
                good += len(core)
    return good / total if total else 0.0


def score_text_layer(
    text: str,
    page_area_sq_in: float,
    image_cover: float = 0.0,
    invisible: float = 0.0,
    has_objects: bool = True,
) -> TextLayerScore:
    """Score a page's extracted text. `image_cover` and `invisible` come from the page's objects."""
    text = JOINED_HYPHEN.sub("", text)
    visible = [ch for ch in text if not ch.isspace()]
    n = len(visible)
    if n == 0:
        return TextLayerScore(0, 0.0, 0, 0.0, 0.0, 0.0, image_cover, invisible, 0.0 if has_objects else 1.0,
                              PASS_THRESHOLD, blank=not has_objects)
    printable = sum(1 for ch in visible if not _is_bad_char(ch)) / n
    runs, garbage_chars = _garbage(text)
    garbage_share = min(1.0, garbage_chars / n)
    words = _word_share(_GLYPH_NAMES.sub(" ", text))
    density = n / max(page_area_sq_in, 1e-6)
    score = printable * max(0.0, 1.0 - 10.0 * garbage_share) * words
    # a picture covering the page with text nobody sees is a scan with an OCR layer: judged as OCR. Visible
    # text printed over a picture (a background, a letterhead, a form) is the page's own text.
    scan_like = image_cover >= SCAN_IMAGE_COVER and invisible >= 0.5
    if scan_like:
        score *= min(1.0, density / SCAN_MIN_DENSITY)
    threshold = OCR_LAYER_THRESHOLD if scan_like else PASS_THRESHOLD
    return TextLayerScore(n, printable, runs, garbage_share, words, density, image_cover, invisible,
                          round(score, 4), threshold)
