"""Pages of markdown cut into retrieval chunks that follow the document's structure. Pure: no database.

    pieces = chunk_pages([(0, "# Title\\n\\nText..."), (1, "...continued.")], ChunkOptions(max_size=1000))

The pages are parsed into blocks (headings, paragraphs, lists, tables, code), a paragraph that runs on over a
page break is joined into one block, and the blocks are packed greedily into chunks of at most `max_size`
(characters, or tokens with `unit="tokens"`):

- a chunk never crosses a heading it does not carry: a new heading starts a new chunk, unless everything in the
  current chunk is headings above it (a title and its first section travel together);
- a table or a list that fits stays whole; one that does not is split by rows (a table's header row repeated in
  every piece) or by items; a paragraph that does not fit is split at sentences, then words;
- with `overlap`, a chunk starts with the end of the previous chunk of the same section.

Every chunk knows where its own text lies in the document's text (`document_text`: the blocks joined by blank
lines): `text[prefix:len(text) - suffix] == document_text[start:end]`, where the prefix is what is repeated
(overlap, a table's header) and the suffix what closes a split HTML table. So the chunks, minus what they
repeat, put together give the document back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .split import split_block, split_words

__all__ = ["ChunkOptions", "Block", "Piece", "parse_blocks", "join_pages", "chunk_pages", "document_text",
           "word_tokens"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+•]|\d{1,3}[.)])\s+")
_INDENTED = re.compile(r"^\s{2,}\S")
_TABLE_ROW = re.compile(r"^\s*\|")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TERMINAL = re.compile(r"[.!?…:;\"'”’)\]]\s*$")
_WORD_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def word_tokens(text: str) -> int:
    """The token count used when no tokenizer is given: words and punctuation marks, each one token. Most
    subword tokenizers give as many or more for English text, so pass one when the limit is a model's."""
    return len(_WORD_TOKEN.findall(text))


@dataclass(frozen=True)
class ChunkOptions:
    """`max_size` in `unit`s ("chars" or "tokens"); `tokenizer` counts the tokens of a text (any callable
    str -> int, e.g. `lambda t: len(enc.encode(t))`); without one, words and punctuation marks are counted."""

    max_size: int | None = None  # default: 2000 characters, or 512 tokens
    overlap: int = 0
    unit: str = "chars"
    tokenizer: Callable[[str], int] | None = None

    def __post_init__(self) -> None:
        if self.unit not in ("chars", "tokens"):
            raise ValueError(f"unit must be 'chars' or 'tokens', not {self.unit!r}")
        if self.limit < 20:
            raise ValueError(f"a chunk of at most {self.limit} {self.unit} is too small to hold a sentence")
        if not 0 <= self.overlap <= self.limit // 2:
            raise ValueError(f"overlap must be between 0 and half the size limit ({self.limit // 2})")

    @property
    def limit(self) -> int:
        if self.max_size is not None:
            return int(self.max_size)
        return 2000 if self.unit == "chars" else 512

    def measure(self) -> Callable[[str], int]:
        if self.unit == "chars":
            return len
        return self.tokenizer or word_tokens


@dataclass
class Block:
    kind: str  # heading | text | list | table | code
    text: str
    pages: list[tuple[int, int]]  # (offset in text where the page starts, page index), first at offset 0
    level: int = 0  # heading level

    def pages_between(self, start: int, end: int) -> list[int]:
        out = []
        for n, (offset, page) in enumerate(self.pages):
            following = self.pages[n + 1][0] if n + 1 < len(self.pages) else len(self.text) + 1
            if offset < max(end, start + 1) and following > start:
                out.append(page)
        return out or [self.pages[0][1]]


@dataclass
class Piece:
    """One chunk as cut: its text, headings, pages and where its own text lies in the document's text."""

    text: str
    headings: list[str]
    pages: list[int]
    kinds: list[str]
    start: int
    end: int
    prefix: int = 0
    suffix: int = 0
    size: int = 0


def _kind(line: str) -> str:
    if _HEADING.match(line):
        return "heading"
    if _TABLE_ROW.match(line):
        return "table"
    if _LIST_ITEM.match(line):
        return "list"
    return "text"


def parse_blocks(markdown: str, page: int) -> list[Block]:
    """One page's markdown as blocks. Blank lines separate blocks; a heading line is a block of its own; table
    rows, list items (with their indented continuation lines), an HTML table and a fenced code block each stay
    one block."""
    blocks: list[Block] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    current: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal current, kind
        text = "\n".join(current).strip("\n")
        if text.strip():
            m = _HEADING.match(text) if kind == "heading" else None
            blocks.append(Block(kind, text, [(0, page)], len(m.group(1)) if m else 0))
        current, kind = [], ""

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush()
            fence = _FENCE.match(line).group(1)  # type: ignore[union-attr]
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            current, kind = lines[i:j + 1], "code"
            flush()
            i = j + 1
            continue
        if line.lstrip().lower().startswith("<table"):
            flush()
            j = i
            while j < len(lines) and "</table>" not in lines[j].lower():
                j += 1
            current, kind = lines[i:j + 1], "table"
            flush()
            i = j + 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        k = _kind(line)
        if k == "heading":
            flush()
            current, kind = [line], "heading"
            flush()
        elif kind == "list" and k == "text" and _INDENTED.match(line):
            current.append(line)  # an item's continuation line
        elif k != kind and current:
            flush()
            current, kind = [line], k
        else:
            current.append(line)
            kind = k
        i += 1
    flush()
    return blocks


def _continues(before: Block, after: Block) -> bool:
    """A paragraph that a page break cut: the page ends mid-sentence and the next one goes on in lower case
    (or the page ended on a comma)."""
    if before.kind != "text" or after.kind != "text" or _TERMINAL.search(before.text):
        return False
    first = after.text.lstrip()[:1]
    return first.islower() or first.isdigit() or before.text.rstrip().endswith(",")


def join_pages(pages: Iterable[tuple[int, str]]) -> list[Block]:
    """Every page's blocks in order; a paragraph running on over a page break becomes one block (joined by a
    space) that knows where each page's part starts."""
    blocks: list[Block] = []
    for page, markdown in pages:
        found = parse_blocks(markdown, page)
        if blocks and found and _continues(blocks[-1], found[0]):
            last, first = blocks[-1], found.pop(0)
            offset = len(last.text) + 1
            last.text = f"{last.text} {first.text}"
            last.pages.append((offset, page))
        blocks.extend(found)
    return blocks


def document_text(blocks: Sequence[Block]) -> str:
    return "\n\n".join(b.text for b in blocks)


def _heading_text(block: Block) -> str:
    m = _HEADING.match(block.text)
    return (m.group(2) if m else block.text).strip()


# ---- packing blocks into chunks -----------------------------------------------------------------------------

@dataclass
class _Open:
    parts: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    start: int = -1
    end: int = -1
    prefix: str = ""
    only_headings: bool = True

    def text(self) -> str:
        return self.prefix + "\n\n".join(self.parts)


def _tail_words(text: str, overlap: int, size: Callable[[str], int]) -> str:
    """The end of `text`, whole words, at most `overlap` units."""
    words = text.split()
    out: list[str] = []
    for word in reversed(words):
        if size(" ".join([word, *out])) > overlap:
            break
        out.insert(0, word)
    return " ".join(out)


def chunk_pages(pages: Iterable[tuple[int, str]], options: ChunkOptions | None = None) -> list[Piece]:
    """(page index, markdown) pairs of one document, in page order, as chunks."""
    return chunk_blocks(join_pages(pages), options or ChunkOptions())


def chunk_blocks(blocks: Sequence[Block], options: ChunkOptions) -> list[Piece]:
    size, limit = options.measure(), options.limit
    pieces: list[Piece] = []
    path: list[tuple[int, str]] = []  # (level, heading text)
    cur = _Open()
    last_text = ""  # the own text of the previous chunk of this section (for overlap)

    def close() -> None:
        nonlocal cur, last_text
        if cur.parts:
            text = cur.text()
            pieces.append(Piece(text, list(cur.headings), sorted(set(cur.pages)), list(dict.fromkeys(cur.kinds)),
                                cur.start, cur.end, len(cur.prefix), 0, size(text)))
            last_text = "\n\n".join(cur.parts)
        cur = _Open(headings=[h for _, h in path])

    def open_with_overlap() -> None:
        if options.overlap and last_text and not cur.parts:
            tail = _tail_words(last_text, options.overlap, size)
            cur.prefix = f"{tail}\n" if tail else ""

    def add(text: str, start: int, end: int, pages: list[int], kind: str) -> None:
        if cur.start < 0:
            cur.start = start
        cur.parts.append(text)
        cur.end, cur.pages, cur.kinds = end, cur.pages + pages, cur.kinds + [kind]
        if kind != "heading":
            cur.only_headings = False

    offset = 0
    for block in blocks:
        b_start, b_end = offset, offset + len(block.text)
        offset = b_end + 2
        if block.kind == "heading":
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, _heading_text(block)))
            # a chunk of headings only goes on with a heading below them all: it carries them all
            carried = cur.parts and cur.only_headings and cur.headings == [h for _, h in path[:-1]]
            if not carried:
                close()
                last_text = ""
            cur.headings = [h for _, h in path]
            if size(cur.text() + ("\n\n" if cur.parts else "") + block.text) > limit:
                close()
            if size(block.text) > limit:  # a heading longer than a chunk: its words
                text = block.text
                for s, e in split_words(text, 0, len(text), lambda s, e, text=text: size(text[s:e]) <= limit):
                    add(block.text[s:e], b_start + s, b_start + e, block.pages_between(s, e), "heading")
                    close()
                continue
            add(block.text, b_start, b_end, block.pages_between(0, len(block.text)), "heading")
            continue
        candidate = cur.text() + ("\n\n" if cur.parts else "") + block.text
        if size(candidate) <= limit:
            if not cur.parts:
                open_with_overlap()
                if size(cur.text() + block.text) > limit:
                    cur.prefix = ""
            add(block.text, b_start, b_end, block.pages_between(0, len(block.text)), block.kind)
            continue
        if size(block.text) <= limit:  # whole in a chunk of its own (with the overlap if that fits too)
            close()
            open_with_overlap()
            if size(cur.text() + block.text) > limit:
                cur.prefix = ""
            add(block.text, b_start, b_end, block.pages_between(0, len(block.text)), block.kind)
            continue
        # too long for any chunk: split it; the headings alone do not make a chunk, they lead the first part
        room = limit - size(cur.text() + "\n\n") if cur.parts and cur.only_headings else 0
        if room < limit // 4:
            close()
            room = limit
        splits = split_block(block.text, block.kind, size, limit, room)
        for n, sp in enumerate(splits):
            part = block.text[sp.start:sp.end]
            if n and cur.parts:
                close()
            if not cur.parts and not sp.head and block.kind == "text":
                open_with_overlap()
                if size(cur.text() + part + sp.tail) > limit:
                    cur.prefix = ""
            if sp.head:
                cur.prefix = sp.head if not cur.parts else cur.prefix
            add(part + sp.tail, b_start + sp.start, b_start + sp.end, block.pages_between(sp.start, sp.end),
                block.kind)
            if sp.tail:
                pieces_before = len(pieces)
                close()
                pieces[pieces_before].suffix = len(sp.tail)
    close()
    return pieces
