"""Documents with known text, made by pagemill itself: the shipped samples, the tests and the benchmarks.

"Scanned" pages are pictures of text (Pillow draws the text, no text layer); born-digital PDFs are written
with reportlab. Fonts come from the reportlab package, so no system font is needed.
"""

from __future__ import annotations

import io
import random
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "SAMPLE_TEXTS",
    "page_text",
    "render_text_image",
    "make_scanned_pdf",
    "make_image",
    "make_tiff",
    "make_born_digital_pdf",
    "write_samples",
]

SAMPLE_TEXTS = [
    "Invoice 2024-117 from Northwind Traders. The total due is 1250 euros, payable within thirty days "
    "of the date of this invoice. Please quote the invoice number with your payment.",
    "Minutes of the board meeting held on the fourth of March. The members approved the annual budget "
    "and agreed to review the maintenance contract for the library building next spring.",
    "The quick brown fox jumps over the lazy dog while the patient farmer counts his seven sheep "
    "and wonders whether the weather will hold until the harvest is safely in the barn.",
    "Shipping note: twelve boxes of printer paper, four cartons of blue ink and one replacement drum "
    "were delivered to the warehouse on Friday morning and signed for by the clerk.",
]

_WORDS = (
    "archive ledger quarterly report customer delivery payment account balance meeting office river "
    "harbour winter summer garden market station letter number project budget review contract village "
    "history museum science doctor patient school teacher student window kitchen bottle paper record"
).split()


def page_text(seed: int, words: int = 60) -> str:
    """Deterministic plain-English-like text for page `seed`."""
    rng = random.Random(seed)
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return f"Page {seed} {body.capitalize()}."


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        import reportlab

        path = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


def render_text_image(text: str, dpi: int = 300, noise: bool = False, width_in: float = 8.5) -> Image.Image:
    """A letter-width page picture of `text`, 12 pt at `dpi`, as a scanner would produce it."""
    scale = dpi / 72
    width = int(width_in * dpi)
    margin = int(0.8 * dpi)
    font = _font(int(12 * scale))
    chars_per_line = max(20, int((width - 2 * margin) / (12 * scale * 0.6)))
    lines: list[str] = []
    for para in text.split("\n\n"):
        lines.extend(textwrap.wrap(para, chars_per_line))
        lines.append("")
    line_h = int(12 * scale * 1.5)
    height = max(int(11 * dpi), margin * 2 + line_h * len(lines))
    im = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(im)
    y = margin
    for line in lines:
        draw.text((margin, y), line, fill=0, font=font)
        y += line_h
    if noise:
        im = im.filter(ImageFilter.GaussianBlur(0.6))
    return im


def make_scanned_pdf(path: Path, texts: Sequence[str], dpi: int = 300) -> Path:
    """An image-only PDF (no text layer), one page per text, like a scanner's output."""
    frames = [render_text_image(t, dpi=dpi) for t in texts]
    frames[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=frames[1:])
    return path


def make_image(path: Path, text: str, fmt: str = "PNG", dpi: int = 300) -> Path:
    im = render_text_image(text, dpi=dpi)
    kwargs: dict[str, object] = {"dpi": (dpi, dpi)}
    if fmt == "JPEG":
        kwargs["quality"] = 90
    im.save(path, fmt, **kwargs)
    return path


def make_tiff(path: Path, texts: Sequence[str], dpi: int = 300) -> Path:
    frames = [render_text_image(t, dpi=dpi) for t in texts]
    frames[0].save(path, "TIFF", dpi=(dpi, dpi), save_all=True, append_images=frames[1:], compression="tiff_lzw")
    return path


def make_born_digital_pdf(path: Path, texts: Sequence[str]) -> Path:
    """A PDF with a real text layer (reportlab), one page per text."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story: list[object] = []
    for i, text in enumerate(texts):
        for para in text.split("\n\n"):
            story.append(Paragraph(para, styles["BodyText"]))
        if i < len(texts) - 1:
            story.append(PageBreak())
    SimpleDocTemplate(str(path), pagesize=letter).build(story)  # type: ignore[arg-type]
    return path


def write_samples(folder: Path) -> dict[str, list[str]]:
    """Write the shipped sample set into `folder`; returns file name -> known text per page."""
    folder.mkdir(parents=True, exist_ok=True)
    known: dict[str, list[str]] = {}
    pdf_texts = [SAMPLE_TEXTS[0], SAMPLE_TEXTS[1], SAMPLE_TEXTS[2]]
    make_scanned_pdf(folder / "scanned-letters.pdf", pdf_texts, dpi=200)
    known["scanned-letters.pdf"] = pdf_texts
    make_image(folder / "shipping-note.png", SAMPLE_TEXTS[3], "PNG", dpi=200)
    known["shipping-note.png"] = [SAMPLE_TEXTS[3]]
    make_image(folder / "receipt.jpg", SAMPLE_TEXTS[2], "JPEG", dpi=200)
    known["receipt.jpg"] = [SAMPLE_TEXTS[2]]
    tiff_texts = [SAMPLE_TEXTS[1], SAMPLE_TEXTS[3]]
    make_tiff(folder / "fax-two-pages.tiff", tiff_texts, dpi=200)
    known["fax-two-pages.tiff"] = tiff_texts
    buf = io.StringIO()
    for name, texts in known.items():
        for i, t in enumerate(texts):
            buf.write(f"{name}\t{i}\t{t}\n")
    (folder / ".known-text.tsv").write_text(buf.getvalue(), encoding="utf-8")
    return known
