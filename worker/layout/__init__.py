"""Page structure for the local engine: words and lines (from Tesseract or a PDF text layer) into headings,
paragraphs, lists, tables, figures, header and footer, written as markdown and OCR 4 blocks."""

from .markdown import PageMarkdown, PageOptions, write_page
from .model import Block, Box, Figure, Line, PageInput, Word
from .structure import PageLayout, analyse

__all__ = ["Block", "Box", "Figure", "Line", "PageInput", "Word", "PageLayout", "PageMarkdown", "PageOptions", "analyse",
           "write_page"]
