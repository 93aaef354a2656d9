"""The guards against what vision-language models do wrong (reference/vlm-ocr.md, "What goes wrong").

- `is_blank`: a page with almost no ink is found locally and never sent (models invent text on blank pages).
- `check_answer`: an answer cut off by the token limit (`finish_reason: length`), one that repeats itself
  (n-gram repetition: n = 30 characters... see `repeats`), an empty answer, a refusal: `BadAnswer` with a
  typed `reason`; the provider asks again at the next temperature, a bounded number of times.
- `inert_markdown`: HTML in the markdown other than table markup, scripts, event handlers, `javascript:` links
  and HTML comments are escaped so they display as text and never run; what was found is reported.
Every guard that fired is recorded on the page (provider.py writes the record as an HTML comment, the way the
local engine records its own notes, and in the logs).
"""

from __future__ import annotations

import html
import re
from collections import Counter

from PIL import Image, ImageOps

from models.errors import MalformedResponse

__all__ = ["BadAnswer", "REASONS", "is_blank", "check_answer", "repeats", "inert_markdown", "refusal"]

REASONS = ("cut_off", "repetition", "empty", "refusal", "wrong_format", "rotated")


class BadAnswer(MalformedResponse):
    """An answer the guards refused; `reason` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def is_blank(image: Image.Image, threshold: float = 0.002) -> bool:
    """Fewer than `threshold` of the pixels carry ink (darker than the page by a clear margin)."""
    small = image.resize((max(1, image.width // 4), max(1, image.height // 4)), Image.Resampling.NEAREST)
    gray = ImageOps.grayscale(small)  # every 4th pixel of every 4th row: a speck of ink still shows
    hist = gray.histogram()
    total = sum(hist) or 1
    # the paper's tone: the brightest level holding at least 1 % of the pixels (scans are not pure white)
    running, paper = 0, 255
    for level in range(255, -1, -1):
        running += hist[level]
        if running >= total * 0.01:
            paper = level
            break
    ink = sum(hist[: max(0, paper - 60)])
    return ink / total < threshold


def repeats(text: str, n: int = 30, window: int = 90, min_count: int = 6) -> bool:
    """A loop: the answer's tail is one short unit said over and over ("....", "| | |", a line again and
    again), or one n-character chunk recurs at least `min_count` times. Table cells (`<td>`) are allowed to
    repeat (DeepSeek's guard allows them too)."""
    body = re.sub(r"</?t[dhr][^>]*>", "", text)
    if len(body) < window:
        return False
    tail = body[-window * 4:]
    for unit in range(1, n + 1):
        piece = tail[-unit:]
        if piece.strip() and tail.endswith(piece * max(3, window // unit)):
            return True
    lines = [ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 8]
    if lines:
        line, count = Counter(lines).most_common(1)[0]
        if count >= min_count and count * len(line) >= window:
            return True
    chunks = Counter(body[i:i + n] for i in range(0, len(body) - n + 1, n))
    return bool(chunks) and chunks.most_common(1)[0][1] >= max(min_count, len(chunks) // 3 + 1)


_REFUSALS = re.compile(
    r"^\s*(?:i[' ’]?m sorry|i am sorry|sorry, (?:but )?i|i cannot|i can(?:no|')t|i am unable|i'm unable|"
    r"unfortunately,? i|as an ai|i (?:will|won't) not be able)", re.I)


def refusal(text: str) -> bool:
    return bool(_REFUSALS.match(text)) and len(text) < 600


def check_answer(text: str, finish_reason: str | None, refusal_field: str | None = None) -> None:
    if refusal_field:
        raise BadAnswer("refusal", f"the model refused: {refusal_field[:200]}")
    if finish_reason == "length":
        raise BadAnswer("cut_off", "the answer was cut off at the token limit (finish_reason length)")
    if not text.strip():
        raise BadAnswer("empty", f"the model answered nothing (finish_reason {finish_reason!r})")
    if refusal(text):
        raise BadAnswer("refusal", f"the model refused: {text.strip()[:200]!r}")
    if repeats(text):
        raise BadAnswer("repetition", "the answer repeats itself (n-gram loop)")
    if finish_reason not in (None, "stop", "eos", "end_turn"):
        raise BadAnswer("cut_off", f"the answer did not end normally (finish_reason {finish_reason!r})")


# table markup and light inline formatting stay; every other tag is escaped
_ALLOWED = {"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col", "br", "sup",
            "sub", "b", "i", "em", "strong", "u", "s", "del", "ins", "p", "span", "div", "ul", "ol", "li", "hr"}
_KEEP_ATTRS = {"colspan", "rowspan", "align"}
_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)([^<>]*?)(/?)>|<!--|<!|<\?")
_ATTR = re.compile(r"([A-Za-z_:][\w:.-]*)\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+)")
_BAD_LINK = re.compile(r"\]\(\s*(?:javascript|vbscript|data:text/html)(?:[^()\s]|\([^()]*\))*\)", re.I)


def inert_markdown(text: str) -> tuple[str, list[str]]:
    """(markdown with hostile markup escaped, what was found). Allowed table tags keep only colspan/rowspan/align."""
    found: list[str] = []

    def tag(m: re.Match[str]) -> str:
        if m.group(2) is None:  # <!-- , <!DOCTYPE, <?xml
            found.append(m.group(0))
            return html.escape(m.group(0))
        name = m.group(2).lower()
        if name not in _ALLOWED:
            found.append(f"<{name}>")
            return html.escape(m.group(0))
        attrs = [(k.lower(), v.strip("\"'")) for k, v in _ATTR.findall(m.group(3))]
        dropped = [k for k, _ in attrs if k not in _KEEP_ATTRS]
        if dropped:
            found.append(f"<{name} {' '.join(dropped)}>")
        kept = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs if k in _KEEP_ATTRS and re.fullmatch(r"[\w ]*", v))
        return f"<{m.group(1)}{name}{kept}{m.group(4)}>"

    out = _TAG.sub(tag, text)

    def link(m: re.Match[str]) -> str:
        found.append("javascript: link")
        return "](#)"

    out = _BAD_LINK.sub(link, out)
    return out, sorted(set(found))
