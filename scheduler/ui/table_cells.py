"""A stored table as a markdown table for the review page, whatever format the provider gave it in.

HTML tables come from the provider and are not trusted: rather than passing them through (the page renders with
raw HTML off), their cell text is read with the standard library's HTML parser and written as a markdown table,
which markdown-it renders with every cell escaped. Merged cells lose their span; their text stays.
"""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["table_markdown"]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _escape(cell: str) -> str:
    return cell.replace("\\", "\\\\").replace("|", "\\|") or " "


def table_markdown(content: str, fmt: str) -> str:
    """`content` of a stored table (format `markdown` or `html`) as markdown."""
    if fmt != "html":
        return content
    parser = _Cells()
    parser.feed(content)
    parser.close()
    rows = [r for r in parser.rows if r]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(_escape(c) for c in r + [""] * (width - len(r))) + " |" for r in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)
