"""What pages cost in tokens with the VLM provider, before anything is sent: `pagemill estimate` and the budget.

Input tokens of one page are its image's tokens at the size the profile renders it, plus the prompt's. Image
tokens follow Qwen2.5-VL's rule, one token per 28x28-pixel patch: olmOCR 2 and dots.ocr are Qwen2.5-VL models,
and the loopback fake bills the same way; DeepSeek-OCR compresses harder (fewer tokens), so the figure is an
upper bound there. Text tokens are taken as 4 characters each. Output tokens cannot be known before the model
reads the page: a range per page, from a sparse page of prose to a dense table, with the profile's cap as the
ceiling. The ledger (`pagemill usage`) then records the tokens the server reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence

from ...documents.inspect import open_pdf
from .profiles import Profile, choose_profile
from .settings import VlmSettings

__all__ = ["TokenRange", "OUTPUT_TOKENS_PER_PAGE", "page_input_tokens", "page_sizes_pt", "token_range",
           "reserve_per_page_usd"]

PATCH_PX = 28
TEMPLATE_TOKENS = 20  # the chat template's role markers and image delimiters around one message
# a page of sparse prose is ~300 words (~400 tokens of markdown); a dense table or form page runs to ~3000
OUTPUT_TOKENS_PER_PAGE = (400, 3000)
_WORST_PAGES_PT = ((612.0, 792.0), (595.3, 841.9))  # Letter, A4: what a page is reserved at before it is seen


@dataclass
class TokenRange:
    pages: int = 0
    input_tokens: int = 0
    output_low: int = 0
    output_high: int = 0

    def add(self, other: TokenRange) -> None:
        self.pages += other.pages
        self.input_tokens += other.input_tokens
        self.output_low += other.output_low
        self.output_high += other.output_high

    def priced(self, vlm: VlmSettings) -> tuple[float, float] | None:
        """(low, high) in USD, or None when no token price is set ("not priced")."""
        if not (vlm.price_per_million_input_tokens or vlm.price_per_million_output_tokens):
            return None
        return vlm.cost_usd(self.input_tokens, self.output_low), vlm.cost_usd(self.input_tokens, self.output_high)


def _profile(vlm: VlmSettings) -> Profile:
    return choose_profile(vlm.model, vlm.profile)


def _output_range(vlm: VlmSettings, profile: Profile) -> tuple[int, int]:
    cap = vlm.max_tokens or profile.max_tokens
    low, high = OUTPUT_TOKENS_PER_PAGE
    return min(low, cap), min(high, cap)


def page_input_tokens(profile: Profile, prompt: str, width_pt: float, height_pt: float) -> int:
    scale = profile.size.scale(width_pt, height_pt)
    w_px, h_px = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
    image = math.ceil(w_px / PATCH_PX) * math.ceil(h_px / PATCH_PX)
    return image + math.ceil(len(prompt) / 4) + TEMPLATE_TOKENS


def page_sizes_pt(path: Path, kind: str, pages: Sequence[int], password: str | None = None
                  ) -> list[tuple[float, float]]:
    """The size in points of each page (an image's at its own dpi, 300 when it gives none)."""
    if not pages:
        return []
    if kind == "pdf":
        with open_pdf(path, password) as pdf:
            return [tuple(pdf.get_page_size(i)) for i in pages]  # type: ignore[misc]
    wanted, sizes = set(pages), []
    with Image.open(path) as im:
        for i, frame in enumerate(ImageSequence.Iterator(im)):
            if i in wanted:
                dpi = frame.info.get("dpi") or (300, 300)
                try:
                    d = float(dpi[0]) or 300.0
                except (TypeError, ValueError, IndexError):
                    d = 300.0
                sizes.append((frame.width / d * 72, frame.height / d * 72))
    return sizes


def token_range(sizes_pt: Sequence[tuple[float, float]], vlm: VlmSettings | None = None) -> TokenRange:
    vlm = vlm or VlmSettings()
    profile = _profile(vlm)
    prompt = vlm.prompt or profile.prompt
    low, high = _output_range(vlm, profile)
    n = len(sizes_pt)
    return TokenRange(n, sum(page_input_tokens(profile, prompt, w, h) for w, h in sizes_pt), n * low, n * high)


def reserve_per_page_usd(vlm: VlmSettings | None = None) -> float:
    """What the budget reserves per page before a range is sent: the larger of a Letter and an A4 page's input
    at the profile's size, and the high end of the output range, at the token prices (0 when unpriced)."""
    vlm = vlm or VlmSettings()
    worst = max((token_range([size], vlm) for size in _WORST_PAGES_PT), key=lambda t: t.input_tokens)
    return vlm.cost_usd(worst.input_tokens, worst.output_high)
