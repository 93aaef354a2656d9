"""Documents whose structure is known, for the layout tests and bench/bench_structure.py.

Born-digital PDFs are written with reportlab (headings, wrapped and hyphenated paragraphs, bullet and numbered
lists, a ruled and a borderless table, a figure with a caption, two columns, running header and footer,
footnote marks); `scan_pdf` rasterises them into image-only PDFs with mild noise and skew, as a scanner would.
Each maker returns the `Truth` of what a reader sees on each page.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["Truth", "make_report", "make_paper", "make_notice", "scan_pdf", "bar_chart_png"]


@dataclass
class Truth:
    """What one page holds, as a reader would list it."""

    headings: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)  # whole, in reading order
    list_items: list[str] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)  # rows of cells
    figures: int = 0
    header: str = ""
    footer: str = ""
    hyphen_joins: list[str] = field(default_factory=list)  # words the page breaks with a hyphen at a line end

    def text(self) -> str:
        """Everything in reading order, for word and bigram recall."""
        parts = [*self.headings[:1], *self.paragraphs, *self.list_items]
        parts += [" ".join(" ".join(r) for r in t) for t in self.tables]
        return "\n".join(parts)


_LOREM = (
    "The committee reviewed the quarterly figures for every regional office and found that deliveries rose "
    "steadily while the cost of each shipment fell. Most of the gain came from the northern warehouses, which "
    "replaced their ageing sorting machines during the spring and now handle twice the volume with the same staff."
)
_SECOND = (
    "Customers noticed the change quickly. Complaints about late parcels dropped by a third, and the share of "
    "orders delivered on the promised day reached a new record in the last month of the quarter."
)
_HYPHEN = (
    "Our measurements were repeated on four consecutive weeks so that seasonal effects and one-off "
    "disturbances would not distort the comparison between the old and the new equipment in any warehouse."
)


def bar_chart_png(width: int = 600, height: int = 360) -> bytes:
    """A bar chart picture without words (a figure, not text)."""
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    draw.line((40, height - 30, width - 20, height - 30), fill="black", width=3)
    draw.line((40, 20, 40, height - 30), fill="black", width=3)
    for i, (value, colour) in enumerate(zip((0.5, 0.8, 0.35, 0.95, 0.6), ("#c33", "#36c", "#3a3", "#e90", "#939"))):
        x = 70 + i * 100
        draw.rectangle((x, height - 30 - int(value * (height - 60)), x + 60, height - 31), fill=colour)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


_SYLLABLES = {"measurements": "measure-ments", "repeated": "re-peated", "consecutive": "con-sec-u-tive",
              "seasonal": "sea-sonal", "effects": "ef-fects", "disturbances": "dis-tur-bances",
              "distort": "dis-tort", "comparison": "com-par-i-son", "equipment": "equip-ment",
              "warehouse": "ware-house"}


def _soft_hyphens(text: str) -> str:
    for word, split in _SYLLABLES.items():
        text = text.replace(word, split.replace("-", "\xad"))
    return text


def _broken_words(path: Path) -> list[str]:
    """The words the PDF actually breaks across lines (pdfium marks the break with U+FFFE or a hyphen)."""
    import pypdfium2 as pdfium

    with pdfium.PdfDocument(path) as pdf:
        text = pdf[0].get_textpage().get_text_range()
    return [a + b for a, b in re.findall(r"([A-Za-z]+)(?:\ufffe|\xad|-\r?\n)([a-z]+)", text)]


def _styles():  # type: ignore[no-untyped-def]
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=11, leading=14,
                          embeddedHyphenation=1, hyphenationLang="")
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontName="Helvetica-Bold", fontSize=22, leading=26),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName="Helvetica-Bold", fontSize=15, leading=19),
        "h3": ParagraphStyle("h3", parent=body, fontName="Helvetica-Bold", spaceBefore=8, spaceAfter=4),
        "body": body,
        "caption": ParagraphStyle("cap", parent=body, fontSize=10, leading=12, fontName="Helvetica-Oblique"),
        "small": ParagraphStyle("small", parent=body, fontSize=9, leading=11),
    }


def _running(header: str, footer: str):  # type: ignore[no-untyped-def]
    def draw(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        from reportlab.lib.units import inch

        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        canvas.drawString(inch, 10.45 * inch, header)
        canvas.drawCentredString(4.25 * inch, 0.5 * inch, footer.format(page=doc.page))
        canvas.restoreState()

    return draw


def make_report(path: Path) -> list[Truth]:
    """One page: title, sections, wrapped and hyphenated paragraphs, lists, a ruled and a borderless table,
    a figure with a caption, a running header and a page-number footer."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.units import inch
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    st = _styles()
    ruled = [["Region", "Orders", "Late", "Cost"], ["North", "1200", "31", "4.10"],
             ["South", "980", "45", "4.60"], ["East", "1105", "28", "3.95"]]
    plain = [["Week", "Parcels", "Returns"], ["1", "5210", "88"], ["2", "5480", "91"], ["3", "5630", "79"]]
    bullets = ["Replace the sorting machines in the west", "Train the night shift on the new scanners",
               "Publish the delivery figures every month"]
    numbered = ["Collect the weekly counts", "Compare them with last year"]
    hyphen_text = _soft_hyphens(_HYPHEN)
    story = [
        Paragraph("Quarterly Delivery Report", st["title"]),
        Paragraph("Summary", st["h2"]),
        Paragraph(_LOREM, st["body"]),
        Paragraph("Method", st["h2"]),
        Paragraph(hyphen_text, st["body"]),
        ListFlowable([ListItem(Paragraph(t, st["body"])) for t in numbered], bulletType="1", bulletFormat="%s."),
        Paragraph("Results", st["h2"]),
        Table(ruled, colWidths=[1.3 * inch] * 4, style=TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.8, colors.black), ("FONT", (0, 0), (-1, -1), "Helvetica", 10)])),
        Spacer(1, 10),
        RLImage(io.BytesIO(bar_chart_png()), width=2.4 * inch, height=1.2 * inch),
        Paragraph("Figure 1: Orders per region.", st["caption"]),
        Paragraph("Next steps", st["h2"]),
        ListFlowable([ListItem(Paragraph(t, st["body"])) for t in bullets], bulletType="bullet", start="\u2022"),
        Spacer(1, 6),
        Table(plain, colWidths=[1.1 * inch] * 3, style=TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 10)])),
    ]
    header, footer = "Northwind Logistics - internal", "Page {page}"
    SimpleDocTemplate(str(path), pagesize=letter, topMargin=0.85 * inch, bottomMargin=0.8 * inch).build(
        story, onFirstPage=_running(header, footer), onLaterPages=_running(header, footer))  # type: ignore[arg-type]
    truth = Truth(
        headings=["Quarterly Delivery Report", "Summary", "Method", "Results", "Next steps"],
        paragraphs=[_LOREM, _HYPHEN, "Figure 1: Orders per region."],
        list_items=numbered + bullets,
        tables=[ruled, plain],
        figures=1,
        header=header,
        footer="Page 1",
        hyphen_joins=_broken_words(path),
    )
    return [truth]


_COLUMN = [
    "Large collections of scanned records are hard to search because their text is locked inside pictures. "
    "We describe a pipeline that reads them page by page and keeps the structure a reader relies on.",
    "Earlier systems returned plain text. Headings, lists and tables were lost, so a search could find a word "
    "but not tell which section or which row of a table it came from.",
    "Our method groups the words of a page into lines, the lines into paragraphs and the paragraphs into "
    "columns, then decides which of them are headings, list items, captions or table cells.",
    "On the test documents every heading and every table row was recovered, and the reading order of two "
    "column pages matched the order in which a person reads them.",
]


def make_paper(path: Path) -> list[Truth]:
    """One two-column page: a full-width title and author line, then sections in two columns, a footnote mark
    (superscript) and a page-number footer."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.units import inch
    from reportlab.platypus import BaseDocTemplate, Frame, FrameBreak, PageTemplate, Paragraph

    st = _styles()
    width, height = letter
    gap, margin = 0.3 * inch, 0.9 * inch
    col_w = (width - 2 * margin - gap) / 2
    top_h = 1.6 * inch
    frames = [
        Frame(margin, height - margin - top_h, width - 2 * margin, top_h, id="top"),
        Frame(margin, margin, col_w, height - 2 * margin - top_h, id="left"),
        Frame(margin + col_w + gap, margin, col_w, height - 2 * margin - top_h, id="right"),
    ]
    footer = "{page}"
    doc = BaseDocTemplate(str(path), pagesize=letter)
    doc.addPageTemplates([PageTemplate("two", frames=frames, onPage=_running("", footer))])
    story = [
        Paragraph("Reading Structure from Scanned Records", st["title"]),
        Paragraph("Ada Lovelace and Charles Babbage, Analytical Engines Ltd", st["body"]),
        FrameBreak(),
        Paragraph("1 Introduction", st["h2"]),
        Paragraph(_COLUMN[0].replace("relies on.", "relies on.<super>1</super>"), st["body"]),
        Paragraph(_COLUMN[1], st["body"]),
        Paragraph("2 Related Work", st["h2"]),
        Paragraph(_COLUMN[1].replace("Earlier systems", "Older tools"), st["body"]),
        FrameBreak(),
        Paragraph("3 Method", st["h2"]),
        Paragraph(_COLUMN[2], st["body"]),
        Paragraph("4 Results", st["h2"]),
        Paragraph(_COLUMN[3], st["body"]),
    ]
    doc.build(story)  # type: ignore[arg-type]
    truth = Truth(
        headings=["Reading Structure from Scanned Records", "1 Introduction", "2 Related Work", "3 Method",
                  "4 Results"],
        paragraphs=["Ada Lovelace and Charles Babbage, Analytical Engines Ltd", _COLUMN[0], _COLUMN[1],
                    _COLUMN[1].replace("Earlier systems", "Older tools"), _COLUMN[2], _COLUMN[3]],
        footer="1",
    )
    return [truth]


NOTICE_ITEMS = [
    "Berth seven reopened to container traffic on Monday after the divers cleared the wreck from the approach",
    "Night pilotage resumes once the buoys are replaced",
    "Dredging of the inner channel starts in the spring",
]
NOTICE_AFTER = "A crane was moved to the north quay and the work should finish in May."


def make_notice(path: Path) -> list[Truth]:
    """One page: a heading, a paragraph, a bulleted list in 10 pt Helvetica with reportlab's default indent
    (on a scan Tesseract reads these bullets as `«`, `e` or `*` and often puts them on lines of their own), one
    item wrapping onto a second line, then a paragraph that starts with the one-letter word "A"."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate

    st = _styles()
    body = ParagraphStyle("notice", parent=st["body"], fontSize=10, leading=13)
    intro = "The harbour master reported on the state of the berths and the channel after the storm."
    story = [
        Paragraph("Harbour Operations", st["h2"]),
        Paragraph(intro, body),
        ListFlowable([ListItem(Paragraph(t, body)) for t in NOTICE_ITEMS], bulletType="bullet", start="\u2022"),
        Paragraph(NOTICE_AFTER, body),
    ]
    SimpleDocTemplate(str(path), pagesize=letter).build(story)  # type: ignore[arg-type]
    return [Truth(headings=["Harbour Operations"], paragraphs=[intro, NOTICE_AFTER], list_items=NOTICE_ITEMS)]


def scan_pdf(src: Path, dst: Path, dpi: int = 200, skew_deg: float = 0.4, noise: float = 0.04,
             seed: int = 7, rotate: int = 0) -> Path:
    """An image-only PDF of `src`'s pages as a scanner would make it: gray, slightly skewed, speckled."""
    import pypdfium2 as pdfium

    rng = random.Random(seed)
    frames: list[Image.Image] = []
    with pdfium.PdfDocument(src) as pdf:
        for i in range(len(pdf)):
            im = pdf[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            if skew_deg:
                im = im.rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
            if noise:
                px = im.load()
                w, h = im.size
                for _ in range(int(noise * w * h / 100)):
                    x, y = rng.randrange(w), rng.randrange(h)
                    px[x, y] = rng.choice((0, 90, 200))  # type: ignore[index]
                im = im.filter(ImageFilter.GaussianBlur(0.5))
            if rotate:
                im = im.rotate(rotate, expand=True, fillcolor=255)
            frames.append(im)
    frames[0].save(dst, "PDF", resolution=dpi, save_all=True, append_images=frames[1:])
    return dst
