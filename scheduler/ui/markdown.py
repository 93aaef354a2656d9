"""A page's markdown as HTML that cannot run anything: markdown-it-py (MIT licence), raw HTML off, so tags in
the text show as text; links only to http(s) and mailto; images only the page's own stored images."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from markdown_it import MarkdownIt

__all__ = ["render_markdown", "LINK_SCHEMES"]

LINK_SCHEMES = ("http://", "https://", "mailto:")


@functools.cache
def _parser() -> MarkdownIt:
    """One parser per process (building one costs more than rendering a page); the image lookup of each
    render travels in its env."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

    def validate(url: str) -> bool:
        # markdown-it calls this for links and images alike; images are judged by image_url below
        return True

    md.validateLink = validate  # type: ignore[method-assign]
    default_link = md.renderer.rules.get("link_open")
    default_image = md.renderer.rules.get("image")

    def link_open(renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        href = (token.attrGet("href") or "").strip()
        if href.lower().startswith(LINK_SCHEMES):
            token.attrSet("rel", "noopener noreferrer nofollow")
            token.attrSet("target", "_blank")
        else:
            token.attrs.pop("href", None)  # javascript:, data:, relative paths: the text stays, the link goes
        return default_link(tokens, idx, options, env) if default_link else renderer.renderToken(tokens, idx, options, env)

    def image(renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        url = env["image_url"]((token.attrGet("src") or "").strip())
        if url is None:
            token.attrs.pop("src", None)  # not a stored image of this page: nothing is fetched from elsewhere
            token.attrSet("class", "missing-image")
        else:
            token.attrSet("src", url)
        token.attrSet("loading", "lazy")
        return default_image(tokens, idx, options, env) if default_image else renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md


# the local engine writes footnote marks as <sup>1</sup>: with raw HTML off they arrive escaped, and a short
# run of plain text between them (no markup, no entity) is safe to show as a superscript again
_SUP = re.compile(r"&lt;sup&gt;([^&<>]{1,12})&lt;/sup&gt;")


def render_markdown(markdown: str, image_url: Callable[[str], str | None]) -> str:
    """HTML of `markdown`; `image_url(name)` gives the URL of a stored image of the page, or None."""
    return _SUP.sub(r"<sup>\1</sup>", _parser().render(markdown, {"image_url": image_url}))
