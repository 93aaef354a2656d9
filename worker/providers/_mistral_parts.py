"""Read the optional parts of an `OCRPageObject`: tables, header, footer, hyperlinks, blocks, confidence_scores.

Defensive by design: a malformed optional part never fails the page (its markdown is what was paid for). What
can be kept is kept, the rest is dropped, and each is logged once per page: a table without an id or content,
a non-string hyperlink (numbers are kept as text), a block that is not an object, a block of a type the
reference does not list (kept with its type as sent), a confidence outside 0..1 (clamped), a word score that
is not `{text, confidence, start_index}`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from .base import OcrBlock, OcrConfidence, OcrTable

__all__ = ["BLOCK_TYPES", "parse_tables", "parse_text", "parse_hyperlinks", "parse_blocks", "parse_confidence",
           "score"]

log = logging.getLogger("pagemill.worker.mistral")

# the block types Mistral documents for OCR 4's `include_blocks` (docs/schema.md, `page_blocks.type`)
BLOCK_TYPES = frozenset({"text", "title", "list", "table", "image", "equation", "caption", "code", "references",
                         "aside_text", "header", "footer", "signature"})
_BLOCK_SCORE_KEYS = ("average_content_confidence_score", "minimum_content_confidence_score",
                     "block_type_confidence_score")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def score(value: Any, what: str, page_no: int) -> float | None:
    """A confidence in 0..1: out of range is clamped (a negative score is as doubtful as 0), not a number is
    None; both logged."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        log.warning("page %s: %s is not a number (%r); dropped", page_no, what, str(value)[:40])
        return None
    if not 0.0 <= value <= 1.0:
        log.warning("page %s: %s %r is outside 0..1; clamped", page_no, what, value)
        return min(1.0, max(0.0, float(value)))
    return float(value)


def parse_text(raw: Mapping[str, Any], key: str, page_no: int) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    log.warning("page %s: `%s` is not text (%s); dropped", page_no, key, type(value).__name__)
    return None


def parse_tables(raw: Any, page_no: int) -> list[OcrTable]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        log.warning("page %s: `tables` is not a list; dropped", page_no)
        return []
    tables: list[OcrTable] = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
            log.warning("page %s: a table without an id was dropped", page_no)
            continue
        content = item.get("content")
        if not isinstance(content, str):
            log.warning("page %s: table %r has no text content; kept empty", page_no, item["id"][:60])
            content = ""
        fmt = item.get("format")
        if fmt not in ("markdown", "html"):
            guessed = "html" if content.lstrip().startswith("<") else "markdown"
            log.warning("page %s: table %r has format %r; taken as %s", page_no, item["id"][:60],
                        str(fmt)[:20], guessed)
            fmt = guessed
        words = _words(item.get("word_confidence_scores"), page_no) or None
        tables.append(OcrTable(id=item["id"], content=content, format=fmt, word_confidence=words))
    return tables


def parse_hyperlinks(raw: Any, page_no: int) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    links: list[str] = []
    dropped = 0
    for item in raw:
        if isinstance(item, str):
            links.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            links.append(str(item))
            dropped += 1  # kept as text, still worth a word
        else:
            dropped += 1
    if dropped:
        log.warning("page %s: %s hyperlink(s) were not strings; numbers kept as text, the rest dropped", page_no,
                    dropped)
    return links


def _block_scores(raw: Any, page_no: int) -> dict[str, float] | None:
    if not isinstance(raw, Mapping):
        return None
    out = {k: s for k in _BLOCK_SCORE_KEYS if (s := score(raw.get(k), f"block {k}", page_no)) is not None}
    return out or None


def parse_blocks(raw: Any, page_no: int) -> list[OcrBlock] | None:
    """None when the provider sent no `blocks` (not asked, or an older model), else the blocks in order."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        log.warning("page %s: `blocks` is not a list; dropped", page_no)
        return None
    blocks: list[OcrBlock] = []
    unknown: set[str] = set()
    for item in raw:
        if not isinstance(item, Mapping):
            log.warning("page %s: a block that is not an object was dropped", page_no)
            continue
        kind = item.get("type") if isinstance(item.get("type"), str) and item.get("type") else "unknown"
        if kind not in BLOCK_TYPES:
            unknown.add(kind[:40])
        scores = _block_scores(item.get("confidence_scores"), page_no)
        content = item.get("content")
        image_id, table_id = item.get("image_id"), item.get("table_id")
        blocks.append(OcrBlock(
            type=kind,
            content=content if isinstance(content, str) else "",
            top_left_x=_int(item.get("top_left_x")),
            top_left_y=_int(item.get("top_left_y")),
            bottom_right_x=_int(item.get("bottom_right_x")),
            bottom_right_y=_int(item.get("bottom_right_y")),
            image_id=image_id if isinstance(image_id, str) else None,
            table_id=table_id if isinstance(table_id, str) else None,
            confidence=scores.get("average_content_confidence_score") if scores else None,
            scores=scores,
        ))
    if unknown:
        log.warning("page %s: block type(s) %s are not among OCR 4's documented types; kept as sent", page_no,
                    ", ".join(sorted(unknown)))
    return blocks


def _words(raw: Any, page_no: int) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    words: list[dict[str, Any]] = []
    bad = 0
    for item in raw:
        conf = score(item.get("confidence"), "a word's confidence", page_no) if isinstance(item, Mapping) else None
        if (not isinstance(item, Mapping) or not isinstance(item.get("text"), str) or conf is None
                or _int(item.get("start_index")) is None):
            bad += 1
            continue
        words.append({"text": item["text"], "confidence": conf, "start_index": item["start_index"]})
    if bad:
        log.warning("page %s: %s word score(s) were not {text, confidence, start_index}; dropped", page_no, bad)
    return words


def parse_confidence(raw: Any, page_no: int) -> OcrConfidence | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        log.warning("page %s: `confidence_scores` is not an object; dropped", page_no)
        return None
    words = _words(raw.get("word_confidence_scores"), page_no)
    average = score(raw.get("average_page_confidence_score"), "the average confidence", page_no)
    minimum = score(raw.get("minimum_page_confidence_score"), "the minimum confidence", page_no)
    if average is None and minimum is None and not words:
        return None
    return OcrConfidence(average=average, minimum=minimum, words=words or None)
