"""Splitting one block too long for a chunk (scheduler/chunks/markdown.py packs the blocks): a table by rows with
its header repeated (an HTML table's parts closed), a list by items, code by lines, a paragraph at sentences,
and anything that still does not fit at words. Parts are offsets into the block's text, so the chunks keep
knowing where their text lies in the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Split", "split_block", "split_words"]

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# the blank after a sentence's end (closing quotes and brackets stay with the sentence)
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+")
_HTML_ROW = re.compile(r"<tr\b.*?</tr>", re.DOTALL | re.IGNORECASE)


# ---- splitting one block that does not fit ------------------------------------------------------------------

@dataclass
class Split:
    """A part of a block: block.text[start:end], with a repeated head before it and a closing tail after."""

    start: int
    end: int
    head: str = ""
    tail: str = ""


def _spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """The text cut at every match of `pattern` (the separators dropped)."""
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def _pack(text: str, spans: list[tuple[int, int]], fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """Consecutive spans merged greedily while `fits(start, end)`; a span that fits nowhere is returned alone."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and fits(out[-1][0], e):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def split_words(text: str, start: int, end: int, fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    words = [(start + s, start + e) for s, e in _spans(text[start:end], re.compile(r"\s+"))]
    out = []
    for s, e in _pack(text, words, fits):
        while not fits(s, e) and e - s > 1:  # one word longer than the limit: cut it
            cut = s + 1
            while cut < e and fits(s, cut + 1):
                cut += 1
            out.append((s, cut))
            s = cut
        out.append((s, e))
    return out


def _split_range(text: str, start: int, end: int, fits: Callable[[int, int], bool],
                 by: re.Pattern[str]) -> list[tuple[int, int]]:
    """text[start:end] in parts that fit: cut at `by` (sentences), then at words."""
    spans = [(start + s, start + e) for s, e in _spans(text[start:end], by)]
    out = []
    for s, e in _pack(text, spans, fits):
        out.extend([(s, e)] if fits(s, e) else split_words(text, s, e, fits))
    return out


def _split_table(text: str, size: Callable[[str], int], limit: int, first_limit: int) -> list[Split] | None:
    """A table by rows: the first part starts with the header, every other part repeats it (an HTML table's
    parts but the last are closed with </table>)."""
    if text.lstrip().lower().startswith("<table"):
        rows = [(m.start(), m.end()) for m in _HTML_ROW.finditer(text)]
        if len(rows) < 2:
            return None
        head_repeat, tail = text[:rows[0][1]], "</table>"
        starts = [r[0] for r in rows[1:]]
        body = list(zip(starts, [*starts[1:], len(text)]))
    else:
        lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
        n_head = 2 if len(lines) > 1 and _TABLE_RULE.match(text[lines[1][0]:lines[1][1]]) else 1
        if len(lines) <= n_head:
            return None
        head_repeat, tail = text[:lines[n_head - 1][1]] + "\n", ""
        body = lines[n_head:]
    groups: list[tuple[int, int]] = []
    for s, e in body:
        if groups:
            gs = groups[-1][0]
            if size(("" if gs == 0 else head_repeat) + text[gs:e] + tail) <= (first_limit if gs == 0 else limit):
                groups[-1] = (gs, e)
                continue
        groups.append((0, e) if not groups else (s, e))
    return [Split(gs, ge, "" if gs == 0 else head_repeat, tail if n < len(groups) - 1 else "")
            for n, (gs, ge) in enumerate(groups)]


def split_block(text: str, kind: str, size: Callable[[str], int], limit: int, first_limit: int) -> list[Split]:
    """A block too long for one chunk, in parts that each fit (with their repeated head and tail); the first
    part (the one starting the block) within `first_limit`, to follow the headings that lead it."""

    def fits(s: int, e: int) -> bool:
        return size(text[s:e]) <= (first_limit if s == 0 else limit)

    if kind == "table":
        splits = _split_table(text, size, limit, first_limit)
        if splits is not None:
            out: list[Split] = []
            for sp in splits:
                if size(sp.head + text[sp.start:sp.end] + sp.tail) <= (first_limit if sp.start == 0 else limit):
                    out.append(sp)
                else:  # the header with one row is already too long: words, the header not repeated
                    out.extend(Split(s, e) for s, e in split_words(text, sp.start, sp.end, fits))
            return out
        return [Split(s, e) for s, e in _split_range(text, 0, len(text), fits, re.compile(r"\n"))]
    if kind == "list":
        items = [m.start() for m in re.finditer(r"(?m)^\s{0,3}(?:[-*+•]|\d{1,3}[.)])\s+", text)] or [0]
        if items[0] > 0:
            items.insert(0, 0)
        spans = [(s, s + len(text[s:e].rstrip())) for s, e in zip(items, [*items[1:], len(text)])]
    elif kind == "code":
        spans = _spans(text, re.compile(r"\n"))
    else:
        return [Split(s, e) for s, e in _split_range(text, 0, len(text), fits, _SENTENCE_END)]
    out = []
    for s, e in _pack(text, spans, fits):
        out.extend([Split(s, e)] if fits(s, e) else
                   [Split(a, b) for a, b in _split_range(text, s, e, fits, _SENTENCE_END)])
    return out
