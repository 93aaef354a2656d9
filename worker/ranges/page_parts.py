"""The rows of a page's optional parts (tables, blocks, header/footer, links, confidence, word boxes) and its
placeholders.

A provider's ids (`img-0.jpeg`, `tbl-3.html`) restart in every request and may be hostile (`../x`, `/etc/passwd`),
so stored names are pagemill's: `img-<page>-<n>.<ext>` for images (persist.py), `tbl-<page>-<n>.<html|md>` for
tables. Both kinds of placeholder are renamed in one pass over the markdown, so a provider id that happens to
equal a name pagemill gives out is never renamed twice. Nothing here becomes a file name.

What the provider got wrong (a table without a placeholder, a placeholder without a table, a block pointing at
an image that is not there, a box outside the page) is logged and kept as it came: the page is still stored.
"""

from __future__ import annotations

import bisect
import html
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..providers.base import OcrBlock, OcrPage

__all__ = ["TABLE_EXTENSIONS", "Renamed", "table_names", "rename_placeholders", "page_fields", "table_rows", "block_rows",
           "table_text"]

log = logging.getLogger("pagemill.worker.persist")

TABLE_EXTENSIONS = {"html": "html", "markdown": "md"}
_TABLE_PLACEHOLDER = re.compile(r"(?<!!)\[(tbl-[^\[\]\n]*)\]\(\1\)")
_TAG = re.compile(r"<[^>]*>")
_ROW_END = re.compile(r"</tr\s*>|<br\s*/?>", re.I)
_MD_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_ID_MAX = 100  # the width of page_blocks.image_id / table_id


def table_names(page: OcrPage) -> dict[str, str]:
    """provider table id -> stored name; the first of two tables with one id takes it (the second is stored
    under its own name too, without a placeholder)."""
    names: dict[str, str] = {}
    for n, table in enumerate(page.tables):
        names.setdefault(table.id, _table_name(page.index, n, table.format))
    return names


def _table_name(page_index: int, n: int, fmt: str) -> str:
    return f"tbl-{page_index}-{n}.{TABLE_EXTENSIONS.get(fmt, 'txt')}"


@dataclass
class Renamed:
    """A page's markdown with stored names in its placeholders, and what it takes to keep offsets right."""

    markdown: str
    placed: set[str] = field(default_factory=set)  # provider table ids whose placeholder was found
    _ends: list[int] = field(default_factory=list)  # end of each replaced span in the provider's markdown
    _shifts: list[int] = field(default_factory=list)  # the length change up to and including it

    def offset(self, position: int) -> int:
        """A position in the provider's markdown (a word score's `start_index`) in the stored markdown."""
        i = bisect.bisect_right(self._ends, position)
        return position + (self._shifts[i - 1] if i else 0)


def rename_placeholders(page_index: int, markdown: str, images: Mapping[str, str],
                        tables: Mapping[str, str]) -> Renamed:
    """The markdown with image and table placeholders pointing at stored names; also the table ids found."""
    found: set[str] = set()
    ends: list[int] = []
    shifts: list[int] = []

    def replace(m: re.Match[str]) -> str:
        bang, ident = m[1], m[2]
        if bang and ident in images:
            name = images[ident]
        elif not bang and ident in tables:
            name = tables[ident]
            found.add(ident)
        elif ident in images:  # an image placeholder written without its `!`
            name = images[ident]
        else:
            return m[0]
        out = f"{bang}[{name}]({name})"
        ends.append(m.end())
        shifts.append((shifts[-1] if shifts else 0) + len(out) - len(m[0]))
        return out

    idents = sorted({*images, *tables}, key=len, reverse=True)
    out = _placeholders(idents).sub(replace, markdown) if idents and "](" in markdown else markdown
    if "tbl-" in out:
        stored = set(tables.values())
        dangling = [m[1] for m in _TABLE_PLACEHOLDER.finditer(out) if m[1] not in stored]
        if dangling:
            log.warning("page %s: the markdown has table placeholder(s) %s but no such table came back; kept as"
                        " text", page_index, ", ".join(repr(d[:60]) for d in dangling[:5]))
    return Renamed(out, found, ends, shifts)


def _placeholders(idents: list[str]) -> re.Pattern[str]:
    """`[id](id)` or `![id](id)` for the given ids, matched literally (an id may hold `]`, `(` or `*`)."""
    alternatives = "|".join(re.escape(i) for i in idents)
    return re.compile(r"(!?)\[(" + alternatives + r")\]\(\2\)")


def table_text(content: str, fmt: str) -> str:
    """The words of a table without its markup, one line per row: what search indexes and shows."""
    if fmt == "html" or content.lstrip().startswith("<"):
        text = html.unescape(_TAG.sub(" ", _ROW_END.sub("\n", content)))
    else:
        rows = [line for line in content.splitlines() if not _MD_RULE.match(line)]
        text = "\n".join(row.replace("|", " ") for row in rows)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def page_fields(page: OcrPage, renamed: Renamed) -> dict[str, Any]:
    """The pages-table columns of the optional parts (NULL where the provider gave nothing)."""
    conf = page.confidence
    words = None
    if conf and conf.words:
        words = [{**w, "start_index": renamed.offset(w["start_index"])} if isinstance(w.get("start_index"), int)
                 else w for w in conf.words]
    return {
        "header": page.header,
        "footer": page.footer,
        "hyperlinks": list(page.hyperlinks) or None,
        "confidence_avg": conf.average if conf else None,
        "confidence_min": conf.minimum if conf else None,
        "word_confidence": words,
        "words": page.words,
    }


def table_rows(document_id: int, page: OcrPage, names: Mapping[str, str],
               placed: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    for n, table in enumerate(page.tables):
        name = names.get(table.id, "")
        if name in taken:  # a duplicate id on this page: its own name, and no placeholder points at it
            name = _table_name(page.index, n, table.format)
            log.warning("page %s: two tables share the id %r; the second is kept as %s, without a place in the"
                        " text", page.index, table.id[:60], name)
        elif table.id not in placed:
            log.warning("page %s: table %r has no placeholder in the markdown; kept, exports put it at the end"
                        " of the page", page.index, table.id[:60])
        taken.add(name)
        rows.append({
            "document_id": document_id,
            "page_index": page.index,
            "table_id": name,
            "provider_id": table.id,
            "format": table.format[:20],
            "content": table.content,
            "text": table_text(table.content, table.format),
            "word_confidence": table.word_confidence or None,
        })
    return rows


def _ref(page_index: int, kind: str, ident: str | None, names: Mapping[str, str]) -> str | None:
    if ident is None:
        return None
    if ident in names:
        return names[ident]
    log.warning("page %s: a block points at %s %r, which is not stored; the reference is kept as sent",
                page_index, kind, ident[:60])
    return ident[:_ID_MAX]


def _outside(block: OcrBlock, width: int | None, height: int | None) -> bool:
    xs = [v for v in (block.top_left_x, block.bottom_right_x) if v is not None]
    ys = [v for v in (block.top_left_y, block.bottom_right_y) if v is not None]
    return (any(v < 0 for v in xs + ys) or (width is not None and any(v > width for v in xs))
            or (height is not None and any(v > height for v in ys)))


def block_rows(document_id: int, page: OcrPage, images: Mapping[str, str],
               tables: Mapping[str, str]) -> list[dict[str, Any]]:
    blocks = page.blocks or []
    outside = sum(1 for b in blocks if _outside(b, page.width, page.height))
    if outside:
        log.warning("page %s: %s block(s) have a box outside the %sx%s page; kept as sent", page.index, outside,
                    page.width, page.height)
    return [
        {
            "document_id": document_id,
            "page_index": page.index,
            "seq": seq,
            "type": block.type[:40],
            "top_left_x": block.top_left_x,
            "top_left_y": block.top_left_y,
            "bottom_right_x": block.bottom_right_x,
            "bottom_right_y": block.bottom_right_y,
            "content": block.content,
            "image_id": _ref(page.index, "image", block.image_id, images),
            "table_id": _ref(page.index, "table", block.table_id, tables),
            "confidence": block.confidence,
            "confidence_scores": block.scores or None,
        }
        for seq, block in enumerate(blocks)
    ]
