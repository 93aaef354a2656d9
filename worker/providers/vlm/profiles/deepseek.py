"""DeepSeek-OCR (deepseek-ai, MIT): markdown with grounding tags before each element.

    <|ref|>title<|/ref|><|det|>[[62, 40, 934, 88]]<|/det|>
    # Annual report

Coordinates are on a 0-999 grid of the page, turned into pixels of the sent image here. `<|ref|>image<|/ref|>`
marks a figure (cut out of the page). Temperature 0, 8192 tokens; the model loops without an n-gram guard, so
the provider's repetition check matters most here.
Server: `vllm serve deepseek-ai/DeepSeek-OCR --logits_processors
vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor --no-enable-prefix-caching
--mm-processor-cache-gb 0`.
"""

from __future__ import annotations

import re

from .base import Parsed, Region, Size, WrongFormat, clamp_box, figure_placeholder

__all__ = ["DeepSeekProfile", "PROFILE"]

# deepseek-ai/DeepSeek-OCR (MIT), README and DeepSeek-OCR-master/DeepSeek-OCR-vllm/config.py: the document prompt
# is "<image>\n<|grounding|>Convert the document to markdown.". Through /v1/chat/completions the `<image>`
# placeholder is put in by the server's chat template from the image part, so only the text after it is sent.
PROMPT = "<|grounding|>Convert the document to markdown."

_TAG = re.compile(r"<\|ref\|>(.*?)<\|/ref\|>\s*<\|det\|>\s*(\[\[.*?\]\])\s*<\|/det\|>", re.S)
_NUM = re.compile(r"-?\d+(?:\.\d+)?")
_KINDS = {"title": "title", "sub_title": "title", "text": "text", "table": "table", "image": "image",
          "figure": "image", "equation": "equation", "formula": "equation", "image_caption": "caption",
          "table_caption": "caption", "caption": "caption", "list": "list", "header": "header",
          "footer": "footer", "page_header": "header", "page_footer": "footer", "footnote": "footnote",
          "table_footnote": "footnote"}


class DeepSeekProfile:
    name = "deepseek"
    prompt = PROMPT
    size = Size(longest_side=1280)
    max_tokens = 8192
    temperatures = (0.0, 0.2, 0.4, 0.7, 0.9)
    image_first = True
    # vLLM's DeepSeek-OCR recipe (docs.vllm.ai/projects/recipes, DeepSeek-OCR): keep the grounding tags, which
    # are special tokens vLLM strips by default, and switch on the model's n-gram repetition guard (n = 30 in a
    # window of 90, <td> and </td> allowed to repeat). The guard acts only on a server started with
    # `--logits_processors vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor`.
    request_extra: dict = {
        "skip_special_tokens": False,
        "vllm_xargs": {"ngram_size": 30, "window_size": 90, "whitelist_token_ids": [128821, 128822]},
    }
    model_hints = ("deepseek-ocr", "deepseek_ocr", "deepseekocr")

    def parse(self, text: str, width: int, height: int) -> Parsed:
        matches = list(_TAG.finditer(text))
        if not matches:
            raise WrongFormat("DeepSeek-OCR grounded answers tag each element <|ref|>..<|/ref|><|det|>[[..]]<|/det|>")
        regions: list[Region] = []
        parts: list[str] = []
        images = 0
        for i, m in enumerate(matches):
            label = m.group(1).strip().lower()
            kind = _KINDS.get(label, "text")
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            content = text[m.end():end].strip()
            nums = [float(n) for n in _NUM.findall(m.group(2))]
            box = None
            if len(nums) >= 4:  # several boxes for one element: the first
                x0, y0, x1, y1 = nums[:4]
                box = clamp_box(x0 / 999 * width, y0 / 999 * height, x1 / 999 * width, y1 / 999 * height,
                                width, height)
            if kind == "image":
                if box is not None:
                    image_id, placeholder = figure_placeholder(images)
                    images += 1
                    regions.append(Region("image", content, box, image_id))
                    parts.append(placeholder)
                if content:
                    parts.append(content)
                continue
            regions.append(Region(kind, content, box))
            if content and kind not in ("header", "footer"):
                parts.append(content)
        leading = text[: matches[0].start()].strip()
        markdown = "\n\n".join(([leading] if leading else []) + parts)
        return Parsed(markdown, regions, flags={"layout": True})


PROFILE = DeepSeekProfile()
