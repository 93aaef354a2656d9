"""What of a document an extraction request carries, and the chat messages around it.

The document goes as its stored markdown, page by page under `## Page N` headings (0-based, as everywhere),
with the page's header and footer when the OCR kept them apart, and each table the OCR took out of the
markdown (`page_tables`) after the page's text under its id, which is the id of its `[tbl-…](tbl-…)`
placeholder in the text. A document longer than the budget
(PAGEMILL_EXTRACT_MAX_CHARS) is never cut silently. It is sent as
1. its first pages, up to half the budget (invoices, contracts and forms state their key facts up front), then
2. the other pages that mention the schema's fields most (property names and titles, matched as words, e.g.
   `invoice_number` matches "Invoice number"), best first while they fit, sent in page order;
the request tells the model which pages it is reading, and the fields row's `note` records it, e.g.
"long document: pages 0-11, 57, 93 of 0-119 were read (PAGEMILL_EXTRACT_MAX_CHARS 200000)".
A first page alone over the budget is cut at the budget, and the note says so too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PageText", "Selection", "select_pages", "field_keywords", "build_messages", "retry_messages",
           "page_spans"]


@dataclass(frozen=True)
class PageText:
    index: int
    markdown: str
    tables: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (table id, content)
    header: str | None = None
    footer: str | None = None

    def render(self) -> str:
        parts = [f"## Page {self.index}"]
        if self.header and self.header.strip():
            parts.append(f"Page header: {self.header.strip()}")
        parts.append(self.markdown.strip())
        parts += [f"Table {ident}:\n{content.strip()}" for ident, content in self.tables if content.strip()]
        if self.footer and self.footer.strip():
            parts.append(f"Page footer: {self.footer.strip()}")
        return "\n\n".join(p for p in parts if p)

    @property
    def has_text(self) -> bool:
        return any(x and x.strip() for x in (self.markdown, self.header, self.footer, *(c for _, c in self.tables)))


@dataclass(frozen=True)
class Selection:
    text: str
    pages: list[int]
    total_pages: list[int]
    note: str | None  # set whenever less than the whole document is sent


def page_spans(pages: Sequence[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    spans: list[str] = []
    run: list[int] = []
    for p in sorted(pages):
        if run and p == run[-1] + 1:
            run.append(p)
            continue
        if run:
            spans.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [p]
    if run:
        spans.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(spans)


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return " ".join(w for w in re.split(r"[\s_\-.]+", spaced.lower()) if w)


def field_keywords(schema: dict[str, Any]) -> list[str]:
    """Property names (as words) and titles of the schema, nested ones included."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                for name, sub in props.items():
                    found.add(_words(str(name)))
                    walk(sub)
            if isinstance(node.get("title"), str):
                found.add(node["title"].strip().lower())
            for key in ("items", "anyOf", "oneOf", "allOf", "$defs", "definitions"):
                sub = node.get(key)
                for item in sub.values() if isinstance(sub, dict) and key in ("$defs", "definitions") else (
                        sub if isinstance(sub, list) else [sub]):
                    walk(item)

    walk(schema)
    return sorted(k for k in found if len(k) >= 3)


_WORD = re.compile(r"[^\W_]+")


def _keyword_tuples(keywords: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(_WORD.findall(k.lower())) for k in keywords if _WORD.findall(k)}


def _score(text: str, wanted: set[tuple[str, ...]]) -> int:
    """How often the keywords occur in `text`, as whole words (any spaces, underscores or dashes between)."""
    if not wanted:
        return 0
    words = _WORD.findall(text.lower())
    firsts = {k[0] for k in wanted}
    hits = 0
    for n in sorted({len(k) for k in wanted}):
        hits += sum(1 for i, w in enumerate(words) if w in firsts and tuple(words[i:i + n]) in wanted)
    return hits


def select_pages(pages: Sequence[PageText], schema: dict[str, Any], max_chars: int) -> Selection:
    """The pages to send within `max_chars` (see the module docstring)."""
    rendered = {p.index: p.render() for p in pages}
    order = [p.index for p in pages]
    total = sum(len(t) + 2 for t in rendered.values())
    if total <= max_chars:
        return Selection("\n\n".join(rendered[i] for i in order), order, order, None)
    chosen: list[int] = []
    used = 0
    cut: int | None = None
    for i in order:  # 1. the first pages, up to half the budget
        size = len(rendered[i]) + 2
        if used + size > max_chars // 2:
            break
        chosen.append(i)
        used += size
    if not chosen:  # the first page alone is over half the budget: it goes, cut at the budget if need be
        first = order[0]
        if len(rendered[first]) > max_chars:
            rendered[first] = rendered[first][:max_chars]
            cut = first
        chosen.append(first)
        used = len(rendered[first]) + 2
    wanted = _keyword_tuples(field_keywords(schema))
    taken = set(chosen)
    rest = [(i, _score(rendered[i], wanted)) for i in order if i not in taken]
    for i, score in sorted(rest, key=lambda r: (-r[1], r[0])):  # 2. the pages that mention the fields
        if score <= 0:
            break
        size = len(rendered[i]) + 2
        if used + size <= max_chars:
            chosen.append(i)
            used += size
    chosen.sort()
    note = (f"long document: pages {page_spans(chosen)} of {page_spans(order)} were read "
            f"(PAGEMILL_EXTRACT_MAX_CHARS {max_chars})")
    if cut is not None:
        note += f"; page {cut} was cut at {max_chars} characters"
    return Selection("\n\n".join(rendered[i] for i in chosen), chosen, order, note)


def build_messages(
    instructions: str, extra_prompt: str | None, schema: dict[str, Any], filename: str, selection: Selection
) -> list[dict[str, Any]]:
    system = instructions if not extra_prompt else f"{instructions}\n\n{extra_prompt.strip()}"
    if selection.note is None:
        scope = f"the whole document ({len(selection.pages)} page{'s' if len(selection.pages) != 1 else ''})"
    else:
        scope = (f"pages {page_spans(selection.pages)} of the document's pages {page_spans(selection.total_pages)}"
                 " (the document is too long to send whole: the first pages and those that mention the fields)")
    user = (
        f"JSON schema of the answer:\n{json.dumps(schema, ensure_ascii=False)}\n\n"
        f"Document {json.dumps(filename, ensure_ascii=False)}, {scope}, as markdown:\n\n{selection.text}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def retry_messages(messages: list[dict[str, Any]], answer: str | None, error: str) -> list[dict[str, Any]]:
    """The same request once more, with the rejected answer and why it was rejected."""
    return [
        *messages,
        {"role": "assistant", "content": answer or ""},
        {"role": "user", "content": f"That answer was rejected: {error}. Answer again with only a JSON object "
                                    "that matches the schema."},
    ]
