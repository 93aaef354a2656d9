"""Any chat model that reads images (Mistral Small/Medium, Pixtral, Qwen-VL, GPT-4o-class, Ollama's llava or
qwen2.5vl): a transcription prompt, markdown back. PAGEMILL_VLM_PROMPT replaces the prompt. No boxes, no
rotation: the page comes back as markdown only (one surrounding code fence is removed)."""

from __future__ import annotations

from .base import Parsed, Size, unfence

__all__ = ["MarkdownProfile", "PROFILE"]

PROMPT = (
    "Transcribe the text of this document page exactly, in reading order, as markdown: headings with #, lists, "
    "tables as HTML tables, equations in LaTeX, checkboxes as ☐ or ☑. Do not describe the page, do not "
    "summarise, do not translate, do not wrap the answer in a code block. If the page has no text, answer "
    "with nothing."
)


class MarkdownProfile:
    name = "markdown"
    prompt = PROMPT
    size = Size(longest_side=1540)
    max_tokens = 8000
    temperatures = (0.0, 0.2, 0.4, 0.7, 0.9)
    image_first = False
    request_extra: dict = {}
    model_hints: tuple[str, ...] = ()

    def parse(self, text: str, width: int, height: int) -> Parsed:
        return Parsed(unfence(text.strip()).strip())


PROFILE = MarkdownProfile()
