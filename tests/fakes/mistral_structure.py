"""The optional parts of an `OCRPageObject` as Mistral's API documents them, for the fake Mistral server.

`enrich(page, request, n_table, model, options)` turns a plain page (index, markdown, images, dimensions) into
what the real API answers for the request's fields:

- `table_format` html/markdown: the page's table moves into `tables[]` (ids `tbl-N.html` / `tbl-N.md`, numbered
  across the request) and `[id](id)` marks its place; null keeps it inline in the markdown.
- `extract_header` / `extract_footer`: the header/footer text moves out of the markdown into `header`/`footer`.
- `include_blocks` (absent means true, as in the SPEC): typed blocks with boxes inside the page for OCR 4
  models (`mistral-ocr-4*`), an empty list for older ones.
- `confidence_scores_granularity` page | word | block: page average and minimum; per-word scores with offsets
  into the markdown (and in tables); per-block scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Structure", "enrich"]

_WORD = re.compile(r"\S+")


@dataclass
class Structure:
    """What each page of the fake's documents holds besides its text."""

    table: list[list[str]] | None = field(default_factory=lambda: [["Item", "Qty"], ["sprocket", "3"]])
    header: str | None = "ACME Corporation quarterly report"
    footer: str | None = "Confidential page footer"
    hyperlinks: list[Any] = field(default_factory=lambda: ["https://example.com/terms"])
    # the page's average confidence from its (sent) text; the minimum is 80 % of it
    confidence_of: Callable[[str], float] = lambda _text: 0.9


def _html(rows: list[list[str]]) -> str:
    cells = ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "<table>" + "".join(cells) + "</table>"


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _words(text: str, base: int, score: float) -> list[dict[str, Any]]:
    return [{"text": m[0], "confidence": score, "start_index": base + m.start()} for m in _WORD.finditer(text)]


def _block(kind: str, box: tuple[int, int, int, int], content: str, scores: dict[str, float] | None,
           **extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "top_left_x": box[0], "top_left_y": box[1], "bottom_right_x": box[2],
                           "bottom_right_y": box[3], "content": content, **extra}
    if scores is not None:
        out["confidence_scores"] = scores
    return out


def enrich(page: dict[str, Any], request: dict[str, Any], n_table: int, model: str,
           structure: Structure) -> dict[str, Any]:
    text = page["markdown"]
    dims = page["dimensions"] or {"width": 1000, "height": 1000}
    w, h = dims["width"], dims["height"]
    granularity = request.get("confidence_scores_granularity")
    score = structure.confidence_of(text)
    fmt = request.get("table_format")
    tables: list[dict[str, Any]] = []
    table_md = _markdown(structure.table) if structure.table else ""
    body = [text]
    if structure.table:
        if fmt in ("html", "markdown"):
            ident = f"tbl-{n_table}.{'html' if fmt == 'html' else 'md'}"
            table: dict[str, Any] = {"id": ident, "format": fmt,
                                     "content": _html(structure.table) if fmt == "html" else table_md}
            if granularity == "word":
                table["word_confidence_scores"] = _words(" ".join(c for r in structure.table for c in r), 0, score)
            tables.append(table)
            body.append(f"[{ident}]({ident})")
        else:
            body.append(table_md)
    body.append(f"End of page {page['index']}.")
    header = footer = None
    if structure.header:
        if request.get("extract_header"):
            header = structure.header
        else:
            body.insert(0, structure.header)
    if structure.footer:
        if request.get("extract_footer"):
            footer = structure.footer
        else:
            body.append(structure.footer)
    images_md = [im["id"] for im in page["images"]]
    markdown = "\n\n".join(body)
    page = {**page, "markdown": markdown, "tables": tables, "hyperlinks": list(structure.hyperlinks),
            "header": header, "footer": footer}
    block_scores = ({"average_content_confidence_score": score, "minimum_content_confidence_score": score * 0.8,
                     "block_type_confidence_score": 0.99} if granularity == "block" else None)
    if request.get("include_blocks", True):
        blocks: list[dict[str, Any]] = []
        if model.startswith("mistral-ocr-4"):
            third = h // 3
            if header:
                blocks.append(_block("header", (0, 0, w, h // 20), header, block_scores))
            blocks.append(_block("text", (w // 10, h // 10, w - w // 10, third), text, block_scores))
            if tables:
                blocks.append(_block("table", (w // 10, third, w - w // 10, 2 * third), table_md, block_scores,
                                     table_id=tables[0]["id"]))
            for i in images_md:
                blocks.append(_block("image", (w // 10, 2 * third, w // 2, h - h // 10), "", block_scores,
                                     image_id=i))
            if footer:
                blocks.append(_block("footer", (0, h - h // 20, w, h), footer, block_scores))
        page["blocks"] = blocks
    if granularity:
        conf: dict[str, Any] = {"average_page_confidence_score": score, "minimum_page_confidence_score": score * 0.8}
        if granularity == "word":
            conf["word_confidence_scores"] = _words(markdown, 0, score)
        page["confidence_scores"] = conf
    return page
