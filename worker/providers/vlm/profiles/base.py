"""What a profile is: how one model family is asked (prompt, image size, token limit, temperatures) and how its
answer is read into markdown and typed regions with boxes in pixels of the image that was sent.

A profile's `parse` raises `WrongFormat` for an answer not in its family's format; the provider retries it and
records it. Boxes are always turned into pixels of the sent image here, whatever grid the model uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Profile", "Parsed", "Region", "Size", "WrongFormat", "figure_placeholder", "clamp_box",
           "RETRY_TEMPERATURES"]

# olmOCR's own schedule (reference/vlm-ocr.md): "higher temperature helps overcome repetition"
RETRY_TEMPERATURES = (0.1, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1.0)


class WrongFormat(ValueError):
    """The answer is not in the profile's format (says what was expected)."""


@dataclass(frozen=True)
class Size:
    """The rendered page: its longest side in pixels, or a dpi with a pixel cap."""

    longest_side: int | None = None
    dpi: int | None = None
    max_pixels: int | None = None

    def scale(self, width_pt: float, height_pt: float) -> float:
        """Pixels per PDF point for a page of this size (72 points an inch)."""
        if self.longest_side:
            return self.longest_side / max(width_pt, height_pt, 1.0)
        scale = (self.dpi or 144) / 72
        if self.max_pixels and width_pt * height_pt * scale * scale > self.max_pixels:
            scale = (self.max_pixels / max(width_pt * height_pt, 1.0)) ** 0.5
        return scale


@dataclass
class Region:
    """One element of the page. `kind` is an OCR 4 block type (text, title, list, table, image, equation,
    caption, header, footer, footnote); `box` is (x0, y0, x1, y1) in pixels of the image that was sent."""

    kind: str
    text: str = ""
    box: tuple[int, int, int, int] | None = None
    image_id: str | None = None  # an image region: the placeholder id in the markdown


@dataclass
class Parsed:
    markdown: str
    regions: list[Region] = field(default_factory=list)
    language: str | None = None
    rotation: int = 0  # degrees the page must be turned (clockwise) to read upright; 0 = fine
    flags: dict[str, object] = field(default_factory=dict)  # what else the model reported (is_table, ...)


class Profile(Protocol):
    name: str
    prompt: str
    size: Size
    max_tokens: int
    temperatures: tuple[float, ...]
    image_first: bool
    request_extra: Mapping[str, Any]  # fields added to each chat request (server-side sampling options)
    model_hints: tuple[str, ...]  # substrings of a model name that pick this profile

    def parse(self, text: str, width: int, height: int) -> Parsed: ...


def figure_placeholder(n: int) -> tuple[str, str]:
    image_id = f"img-{n}.png"
    return image_id, f"![{image_id}]({image_id})"


def clamp_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int
              ) -> tuple[int, int, int, int] | None:
    a, b = sorted((x0, x1)), sorted((y0, y1))
    box = (max(0, int(round(a[0]))), max(0, int(round(b[0]))),
           min(width, int(round(a[1]))), min(height, int(round(b[1]))))
    return box if box[2] > box[0] and box[3] > box[1] else None


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n\s*```\s*$", re.S)


def unfence(text: str) -> str:
    """An answer wrapped in one code fence (```markdown ... ```), as chat models like to: the inside."""
    m = _FENCE.match(text)
    return m.group(1) if m else text
