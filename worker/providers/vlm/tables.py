"""Tables out of a VLM page's markdown, the way the other providers give them (`table_format`): each HTML
`<table>` or markdown pipe table becomes an `OcrTable` and a `[tbl-n.html](tbl-n.html)` placeholder marks its
place. Markdown tables become HTML when the format is html (cells split on `|`); HTML tables stay HTML under
either format (merged cells would be lost in markdown). `table_format` None leaves them in the text."""

from __future__ import annotations

import html
import re

from ..base import OcrTable

__all__ = ["take_tables"]

_HTML_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def _md_to_html(lines: list[str]) -> str:
    head, body = _cells(lines[0]), [_cells(ln) for ln in lines[2:]]
    rows = ["<tr>" + "".join(f"<th>{html.escape(c, quote=False)}</th>" for c in head) + "</tr>"]
    rows += ["<tr>" + "".join(f"<td>{html.escape(c, quote=False)}</td>" for c in r) + "</tr>" for r in body]
    return "<table>" + "".join(rows) + "</table>"


def _markdown_tables(text: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, lines) of each pipe table: a header row, a rule row, body rows."""
    out: list[tuple[int, int, list[str]]] = []
    lines = text.splitlines(keepends=True)
    pos, i = 0, 0
    starts = []
    for ln in lines:
        starts.append(pos)
        pos += len(ln)
    starts.append(pos)
    while i < len(lines) - 1:
        if "|" in lines[i] and _RULE.match(lines[i + 1]) and lines[i].count("|") >= 1:
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                j += 1
            out.append((starts[i], starts[j], [ln.rstrip("\n") for ln in lines[i:j]]))
            i = j
        else:
            i += 1
    return out


def take_tables(markdown: str, table_format: str | None) -> tuple[str, list[OcrTable]]:
    if table_format is None:
        return markdown, []
    found: list[tuple[int, int, str, str]] = [(m.start(), m.end(), m.group(0), "html")
                                                for m in _HTML_TABLE.finditer(markdown)]
    for start, end, lines in _markdown_tables(markdown):
        if not any(s <= start < e for s, e, _, _ in found):
            if table_format == "html":
                found.append((start, end, _md_to_html(lines), "html"))
            else:
                found.append((start, end, "\n".join(lines), "markdown"))
    found.sort()
    tables: list[OcrTable] = []
    out, last = [], 0
    for start, end, content, fmt in found:
        table_id = f"tbl-{len(tables)}.{'html' if fmt == 'html' else 'md'}"
        tables.append(OcrTable(id=table_id, content=content, format=fmt))
        out.append(markdown[last:start])
        out.append(f"[{table_id}]({table_id})" + ("\n" if markdown[start:end].endswith("\n") else ""))
        last = end
    out.append(markdown[last:])
    return "".join(out), tables
