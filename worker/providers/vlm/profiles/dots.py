"""dots.ocr / dots.mocr (rednote-hilab; a custom licence on top of MIT: read it before commercial use).

The layout prompt answers one JSON list in reading order, each element `{"bbox": [x1, y1, x2, y2], "category":
..., "text": ...}` with boxes in pixels of the sent image and 11 categories; tables come as HTML, formulas as
LaTeX, the rest as markdown; a Picture has no text. Rendered at 200 dpi, at most 11,289,600 pixels;
temperature 0.1; 16384 completion tokens.
Server: `vllm serve rednote-hilab/dots.mocr --trust-remote-code --chat-template-content-format string`.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Parsed, Region, Size, WrongFormat, clamp_box, figure_placeholder, unfence

__all__ = ["DotsProfile", "PROFILE", "CATEGORIES"]

# Quoted verbatim from rednote-hilab/dots.ocr (MIT; the weights carry their own agreement),
# dots_ocr/utils/prompts.py, dict_promptmode_to_prompt["prompt_layout_all_en"], trailing newline included.
PROMPT = (
    "Please output the layout information from the PDF image, including each layout element's bbox, its "
    "category, and the corresponding text content within the bbox.\n\n"
    "1. Bbox format: [x1, y1, x2, y2]\n\n"
    "2. Layout Categories: The possible categories are ['Caption', 'Footnote', 'Formula', 'List-item', "
    "'Page-footer', 'Page-header', 'Picture', 'Section-header', 'Table', 'Text', 'Title'].\n\n"
    "3. Text Extraction & Formatting Rules:\n"
    "    - Picture: For the 'Picture' category, the text field should be omitted.\n"
    "    - Formula: Format its text as LaTeX.\n"
    "    - Table: Format its text as HTML.\n"
    "    - All Others (Text, Title, etc.): Format their text as Markdown.\n\n"
    "4. Constraints:\n"
    "    - The output text must be the original text from the image, with no translation.\n"
    "    - All layout elements must be sorted according to human reading order.\n\n"
    "5. Final Output: The entire output must be a single JSON object.\n"
)

# category -> (OCR 4 block type, how it is written in the page's markdown)
CATEGORIES: dict[str, str] = {
    "title": "title", "section-header": "title", "text": "text", "list-item": "list", "table": "table",
    "formula": "equation", "picture": "image", "caption": "caption", "footnote": "footnote",
    "page-header": "header", "page-footer": "footer",
}


def _markdown(kind: str, category: str, text: str) -> str:
    if kind == "title":
        return ("# " if category == "title" else "## ") + text.lstrip("# ")
    if kind == "equation" and not text.startswith("$"):
        return f"$$\n{text}\n$$"
    if kind == "list" and not text.lstrip().startswith(("-", "*", "+")) and not text[:3].strip(". ").isdigit():
        return f"- {text}"
    return text


class DotsProfile:
    name = "dots"
    prompt = PROMPT
    size = Size(dpi=200, max_pixels=11_289_600)
    max_tokens = 16384
    temperatures = (0.1, 0.2, 0.4, 0.7, 0.9)
    image_first = True
    request_extra: dict = {}
    model_hints = ("dots.ocr", "dots.mocr", "dots_ocr", "dotsocr", "dots-ocr", "dots-mocr")

    def parse(self, text: str, width: int, height: int) -> Parsed:
        try:
            data: Any = json.loads(unfence(text.strip()))
        except ValueError:
            raise WrongFormat("dots.ocr answers one JSON list of {bbox, category, text}") from None
        if isinstance(data, dict):  # some builds wrap the list
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list):
            raise WrongFormat("dots.ocr answers one JSON list of {bbox, category, text}")
        regions: list[Region] = []
        parts: list[str] = []
        images = 0
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("category"), str):
                raise WrongFormat("a dots.ocr layout element without a category")
            category = item["category"].strip().lower()
            kind = CATEGORIES.get(category, "text")
            bbox = item.get("bbox")
            box = None
            if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox):
                box = clamp_box(*bbox, width, height)
            content = item.get("text") if isinstance(item.get("text"), str) else ""
            if kind == "image":
                if box is None:
                    continue
                image_id, placeholder = figure_placeholder(images)
                images += 1
                regions.append(Region("image", "", box, image_id))
                parts.append(placeholder)
                continue
            content = content.strip()
            regions.append(Region(kind, content, box))
            if content and kind not in ("header", "footer"):
                parts.append(_markdown(kind, category, content))
        return Parsed("\n\n".join(parts), regions, flags={"layout": True})


PROFILE = DotsProfile()
