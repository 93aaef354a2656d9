"""olmOCR 2 (allenai/olmocr, Apache-2.0): markdown after YAML front matter.

    ---
    primary_language: en
    is_rotation_valid: true
    rotation_correction: 0
    is_table: false
    is_diagram: false
    ---
    # Title
    Text as read naturally, equations in LaTeX, tables in HTML, figures as ![alt](page_x_y_w_h.png).

The page is rendered with its longest side at 1288 px. `max_tokens` 8000 (context 16384); an answer with
`finish_reason` other than `stop` is invalid. A page reported rotated (`is_rotation_valid: false`) is turned by
`rotation_correction` degrees and sent again. The front matter is read with a small parser of `key: value`
lines (no YAML library needed, nothing executable).
Server: `vllm serve allenai/olmOCR-2-7B-1025-FP8 --max-model-len 16384`.
"""

from __future__ import annotations

import re

from .base import RETRY_TEMPERATURES, Parsed, Region, Size, WrongFormat, clamp_box, figure_placeholder

__all__ = ["OlmOcrProfile", "PROFILE"]

# Quoted verbatim from allenai/olmocr (Apache-2.0), olmocr/prompts/prompts.py, build_no_anchoring_v4_yaml_prompt
# (checked at commit f7cfe4c, 2026-03-25): the prompt olmOCR 2 was trained on. Its pipeline sends the text part
# before the image (olmocr/pipeline.py build_page_query), hence image_first = False. "LateX" is upstream's spelling.
PROMPT = (
    "Attached is one page of a document that you must process. "
    "Just return the plain text representation of this document as if you were reading it naturally. "
    "Convert equations to LateX and tables to HTML.\n"
    "If there are any figures or charts, label them with the following markdown syntax "
    "![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
    "Return your output as markdown, with a front matter section on top specifying values for the "
    "primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)

_FRONT = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_FIGURE = re.compile(r"!\[([^\]\n]*)\]\(page_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)\.png\)")
_REQUIRED = ("primary_language", "is_rotation_valid", "rotation_correction")


def _value(raw: str) -> object:
    raw = raw.strip().strip("'\"")
    low = raw.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("null", "none", "~", ""):
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def front_matter(text: str) -> tuple[dict[str, object], str]:
    m = _FRONT.match(text)
    if not m:
        raise WrongFormat("olmOCR answers start with YAML front matter (--- primary_language: ... ---)")
    fields: dict[str, object] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = _value(value)
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise WrongFormat(f"olmOCR front matter lacks {', '.join(missing)}")
    return fields, text[m.end():]


class OlmOcrProfile:
    name = "olmocr"
    prompt = PROMPT
    size = Size(longest_side=1288)
    max_tokens = 8000
    temperatures = RETRY_TEMPERATURES
    image_first = False
    request_extra: dict = {}
    model_hints = ("olmocr",)

    def parse(self, text: str, width: int, height: int) -> Parsed:
        fields, body = front_matter(text)
        rotation = 0
        correction = fields.get("rotation_correction")
        if fields.get("is_rotation_valid") is False and correction in (90, 180, 270):
            rotation = int(correction)  # type: ignore[arg-type]
        regions: list[Region] = []

        def figure(m: re.Match[str]) -> str:
            x, y, w, h = (float(m.group(i)) for i in range(2, 6))
            box = clamp_box(x, y, x + w, y + h, width, height)
            if box is None:
                return m.group(1)  # a box off the page: keep the description as text
            image_id, placeholder = figure_placeholder(len(regions))
            regions.append(Region("image", m.group(1), box, image_id))
            return placeholder

        markdown = _FIGURE.sub(figure, body).strip()
        language = fields.get("primary_language")
        flags = {k: fields[k] for k in ("is_table", "is_diagram") if k in fields}
        return Parsed(markdown, regions, language if isinstance(language, str) else None, rotation, flags)


PROFILE = OlmOcrProfile()
