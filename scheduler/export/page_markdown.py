"""A stored page as a person reads it: each table at its placeholder, headers and footers on request.

    text = readable_page(page.markdown, tables_of_page, header=page.header, footer=page.footer,
                         with_headers=True)

A table placeholder `[tbl-3-0.html](tbl-3-0.html)` is replaced by the table itself (markdown as is, HTML as is:
markdown renderers show HTML tables), set off by blank lines so it stays a block. A table whose placeholder
the provider left out goes to the end of its page, so nothing is lost; a placeholder whose table never came is
turned into plain text, never a link that points nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["StoredTable", "place_tables", "readable_page"]

_TABLE_LINK = re.compile(r"(?<!!)\[([^\[\]\n]*)\]\((tbl-[^()\s]*)\)")


@dataclass(frozen=True)
class StoredTable:
    table_id: str
    content: str


def _block(content: str) -> str:
    return f"\n\n{content.strip()}\n\n"


def place_tables(markdown: str, tables: Sequence[StoredTable]) -> str:
    if not tables and "tbl-" not in markdown:
        return markdown
    by_id = {t.table_id: t for t in tables}
    placed: set[str] = set()

    def replace(m: re.Match[str]) -> str:
        table = by_id.get(m[2])
        if table is None:
            return f"[table {m[2]} not stored]"
        placed.add(table.table_id)
        return _block(table.content)

    out = _TABLE_LINK.sub(replace, markdown) if "tbl-" in markdown else markdown
    rest = [t for t in tables if t.table_id not in placed]
    if out == markdown and not rest:
        return markdown
    if rest:
        out = out.rstrip("\n") + "".join(_block(t.content) for t in rest)
    # a table placed at the very start or end leaves blank lines that the page separator already provides
    return re.sub(r"\n{3,}", "\n\n", out).strip("\n")


def readable_page(markdown: str, tables: Sequence[StoredTable], header: str | None = None,
                  footer: str | None = None, with_headers: bool = False) -> str:
    body = place_tables(markdown, tables)
    if not with_headers:
        return body
    parts = [p for p in (header, body, footer) if p and p.strip()]
    return "\n\n".join(p.strip("\n") for p in parts)
