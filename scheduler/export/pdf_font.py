"""The glyphless font of a searchable PDF's invisible text layer: any script, nothing drawn.

The approach of Tesseract's PDF renderer and OCRmyPDF: a Type0 font (Identity-H encoding, two-byte codes) whose
CIDFontType2 maps every code to one glyph of the same width, never drawn (render mode 3), and a ToUnicode CMap
that gives each code's text. Codes are the characters' code points, so Greek, Cyrillic, Arabic, Hebrew, Chinese,
Japanese, Korean, ... all come back from a viewer's search and copy exactly; the few characters beyond the BMP a
document uses get the codes of the surrogate range (D800-DFFF, never a character on its own), each mapped to its
character.

Why the font program is written here, byte by byte, instead of embedding Tesseract's `pdf.ttf` (Apache-2.0) or
building one with fontTools (MIT): `pdf.ttf` is not in the pip wheels pagemill installs (only Debian's
tesseract-ocr package has it), and fontTools would be a dependency for ~700 bytes that never change. The font
has the tables a TrueType program embedded in a PDF needs (PDF 32000-1 §9.9: head, hhea, maxp, hmtx, loca, glyf;
post for readers that look for it) and two glyphs; FreeType (Poppler, PDFium, MuPDF) loads it.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

__all__ = ["ASCENT", "DESCENT", "GLYPH_WIDTH", "add_font", "encode", "glyphless_truetype"]

# per 1000 units of the font size: the advance of every glyph, the height of capitals and ascenders, the descent
# (Helvetica's ascent and descent, so a viewer's highlight covers a word's letters as it did with Helvetica)
GLYPH_WIDTH = 500
ASCENT = 718
DESCENT = -207
_NAME = "GlyphLessFont"


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}I", data)) & 0xFFFFFFFF


@cache
def glyphless_truetype() -> bytes:
    """A TrueType program with two glyphs (.notdef, empty, and the box every code maps to), each GLYPH_WIDTH
    wide in a 1000-unit em."""
    glyphs = 2
    # glyph 1: one clockwise rectangle over the letter cell (0, DESCENT)-(GLYPH_WIDTH, ASCENT), all points on the
    # curve, coordinates as deltas. Never drawn (the layer is in render mode 3), but readers that measure glyphs
    # (PDFium's character boxes) then give each letter the height of a line instead of none
    box = struct.pack(">hhhhhHH4B4h4h", 1, 0, DESCENT, GLYPH_WIDTH, ASCENT, 3, 0, 1, 1, 1, 1,
                      0, 0, GLYPH_WIDTH, 0, DESCENT, ASCENT - DESCENT, 0, DESCENT - ASCENT)
    tables = {
        # version, revision, checksum adjustment (set below), magic, flags (baseline at y=0, integer ppem), units
        # per em, created, modified, bbox, mac style, smallest readable size, direction hint, short loca, format
        b"head": struct.pack(">IIIIHHqqhhhhHHhhh", 0x00010000, 0x00010000, 0, 0x5F0F3CF5, 0x000B, 1000, 0, 0,
                             0, DESCENT, GLYPH_WIDTH, ASCENT, 0, 8, 2, 0, 0),
        # version, ascender, descender, line gap, widest advance, bearings, extent, caret, 4 reserved,
        # metric format, advances listed
        b"hhea": struct.pack(">IhhhHhhhhhhhhhhhH", 0x00010000, ASCENT, DESCENT, 0, GLYPH_WIDTH, 0, 0, 0, 1, 0, 0,
                             0, 0, 0, 0, 0, glyphs),
        # version 1.0: the glyph count, then maxima (no points, no instructions; 2 zones as the spec asks)
        b"maxp": struct.pack(">IHHHHHHHHHHHHHH", 0x00010000, glyphs, 4, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0),
        b"hmtx": struct.pack(">HhHh", GLYPH_WIDTH, 0, GLYPH_WIDTH, 0),
        b"loca": struct.pack(">HHH", 0, 0, len(box) // 2),  # .notdef empty, glyph 1 the box (short offsets / 2)
        b"glyf": box,
        # version 3 (no glyph names), italic angle, underline position and thickness, fixed pitch, memory hints
        b"post": struct.pack(">IihhIIIII", 0x00030000, 0, -100, 50, 1, 0, 0, 0, 0),
    }
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = len(header) + 16 * count
    records, body = b"", b""
    for tag in tags:
        data = tables[tag]
        records += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(header + records + body)
    head_at = offset + sum(len(tables[t]) + (-len(tables[t]) % 4) for t in tags[: tags.index(b"head")])
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)


def encode(text: str, extra: dict[str, int]) -> bytes:
    """`text` as the layer's two-byte codes; a character beyond the BMP gets the next free code of the surrogate
    range, recorded in `extra` (character -> code) for the ToUnicode map (a character past 2,048 of them: FFFD)."""
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF or 0xD800 <= cp <= 0xDFFF:
            code = extra.get(ch)
            if code is None:
                code = 0xD800 + len(extra) if len(extra) < 0x800 else 0xFFFD
                if code != 0xFFFD:
                    extra[ch] = code
            cp = code
        out += cp.to_bytes(2, "big")
    return bytes(out)


def _to_unicode(extra: dict[str, int]) -> bytes:
    # a range may only run through the last byte of its codes (PDF 32000-1 §9.10.3), so one range per high byte
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    chars = [f"<{code:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for ch, code in sorted(extra.items(),
                                                                                            key=lambda kv: kv[1])]
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    for start in range(0, len(ranges), 100):  # at most 100 entries a block
        part = ranges[start:start + 100]
        lines += [f"{len(part)} beginbfrange", *part, "endbfrange"]
    for start in range(0, len(chars), 100):
        part = chars[start:start + 100]
        lines += [f"{len(part)} beginbfchar", *part, "endbfchar"]
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


@cache
def _cid_to_gid() -> bytes:
    return zlib.compress(b"\x00\x01" * 65536, 9)  # every code to glyph 1 (~300 bytes compressed)


def add_font(pdf: object, extra: dict[str, int]) -> object:
    """The Type0 font dictionary, added to `pdf` (a pikepdf.Pdf) once per document and shared by its pages."""
    import pikepdf

    def stream(data: bytes, compressed: bool = False, **keys: object) -> object:
        s = pikepdf.Stream(pdf, data if compressed else zlib.compress(data, 9))  # type: ignore[arg-type]
        s.Filter = pikepdf.Name.FlateDecode
        for k, v in keys.items():
            s[f"/{k}"] = v
        return s

    program = glyphless_truetype()
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor, FontName=pikepdf.Name(f"/{_NAME}"), Flags=5,  # fixed pitch, symbolic
        FontBBox=[0, DESCENT, GLYPH_WIDTH, ASCENT], ItalicAngle=0, Ascent=ASCENT, Descent=DESCENT,
        CapHeight=ASCENT, StemV=80, FontFile2=stream(program, Length1=len(program)))
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.CIDFontType2, BaseFont=pikepdf.Name(f"/{_NAME}"),
        CIDSystemInfo=pikepdf.Dictionary(Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"),
                                         Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),  # type: ignore[attr-defined]
        DW=GLYPH_WIDTH, CIDToGIDMap=stream(_cid_to_gid(), compressed=True))
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=pikepdf.Name(f"/{_NAME}"),
        Encoding=pikepdf.Name("/Identity-H"), DescendantFonts=[pdf.make_indirect(cid_font)],  # type: ignore
        ToUnicode=stream(_to_unicode(extra)))
    return pdf.make_indirect(font)  # type: ignore[attr-defined]
