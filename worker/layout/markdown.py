"""Typed blocks into what a provider returns: the page's markdown, OCR 4 blocks with boxes, tables (taken out
of the markdown when a `table_format` is asked for, as the Mistral API does), header, footer and confidence."""

from __future__ import annotations

import html
import statistics
from dataclasses import dataclass, field

from ..providers.base import OcrBlock, OcrConfidence, OcrTable
from .model import Block, Figure, Line
from .structure import PageLayout

__all__ = ["PageOptions", "PageMarkdown", "write_page", "markdown_table", "html_table"]


@dataclass(frozen=True)
class PageOptions:
    """What of a page is asked for, as the Mistral request fields say it (`WorkerSettings` fills them); the
    defaults are the API's."""

    table_format: str | None = None  # None: tables inline; "markdown" / "html": out into `tables`
    extract_header: bool = False  # False: the running header stays at the top of the markdown
    extract_footer: bool = False
    confidence: str | None = "word"  # "page": no per-word list; None: no confidence at all


@dataclass
class PageMarkdown:
    markdown: str
    blocks: list[OcrBlock]
    tables: list[OcrTable] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)  # (image id, region) in markdown order
    header: str | None = None
    footer: str | None = None
    confidence: OcrConfidence | None = None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def markdown_table(rows: list[list[str]]) -> str:
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    out = ["| " + " | ".join(_cell(c) for c in rows[0]) + " |", "|" + "---|" * width]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _lines_text(lines: list[Line]) -> str | None:
    text = "\n".join(ln.text for ln in lines).strip()
    return text or None


def _ocr_block(block: Block, content: str, **ids: str | None) -> OcrBlock:
    x0, y0, x1, y1 = block.box.ints()
    confs = [w.conf for ln in block.lines for w in ln.words if w.conf is not None]
    return OcrBlock(type=block.type, content=content, top_left_x=x0, top_left_y=y0, bottom_right_x=x1,
                    bottom_right_y=y1, confidence=round(statistics.fmean(confs) / 100, 4) if confs else None, **ids)


def _confidence(layout: PageLayout, markdown: str) -> OcrConfidence | None:
    words = [w for b in layout.blocks for ln in b.lines for w in ln.words if w.conf is not None]
    words += [w for ln in layout.header + layout.footer for w in ln.words if w.conf is not None]
    if not words:
        return None
    listed: list[dict[str, object]] = []
    pos = 0
    for w in words:
        at = markdown.find(w.text, pos)
        if at >= 0:
            pos = at + len(w.text)
        listed.append({"text": w.text, "confidence": round((w.conf or 0.0) / 100, 4),
                       "start_index": at if at >= 0 else None})
    confs = [(w.conf or 0.0) / 100 for w in words]
    return OcrConfidence(average=round(statistics.fmean(confs), 4), minimum=round(min(confs), 4), words=listed)


def write_page(layout: PageLayout, options: PageOptions | None = None, first_image: int = 0) -> PageMarkdown:
    options = options or PageOptions()
    table_format = options.table_format
    parts: list[str] = []
    blocks: list[OcrBlock] = []
    out = PageMarkdown("", blocks)
    for b in layout.blocks:
        if b.type == "table" and b.rows:
            content = html_table(b.rows) if table_format == "html" else markdown_table(b.rows)
            if table_format in ("markdown", "html"):
                tid = f"tbl-{len(out.tables)}.{'html' if table_format == 'html' else 'md'}"
                out.tables.append(OcrTable(tid, content, table_format))
                parts.append(f"[{tid}]({tid})")
                blocks.append(_ocr_block(b, content, table_id=tid))
            else:
                parts.append(content)
                blocks.append(_ocr_block(b, content))
        elif b.type == "image" and b.figure is not None:
            image_id = b.figure.image_id or f"img-{first_image + len(out.figures)}.png"
            out.figures.append((image_id, b.figure))
            parts.append(f"![{image_id}]({image_id})")
            blocks.append(_ocr_block(b, "", image_id=image_id))
        elif b.markdown:
            parts.append(b.markdown)
            blocks.append(_ocr_block(b, b.markdown))
    header, footer = _lines_text(layout.header), _lines_text(layout.footer)
    if header and not options.extract_header:
        parts.insert(0, header.replace("\n", " "))
    if footer and not options.extract_footer:
        parts.append(footer.replace("\n", " "))
    out.markdown = "\n\n".join(parts)
    out.header = header if options.extract_header else None
    out.footer = footer if options.extract_footer else None
    for kind, lines in (("header", layout.header), ("footer", layout.footer)):
        if lines:
            box = lines[0].box
            for ln in lines[1:]:
                box = box.union(ln.box)
            blocks.append(_ocr_block(Block(kind, box, "", lines), _lines_text(lines) or ""))
    if options.confidence:
        out.confidence = _confidence(layout, out.markdown)
        if out.confidence is not None and options.confidence != "word":
            out.confidence.words = None
    return out
