"""`pagemill search` output: snippets from documents are shown as text, only the matches are styled."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from scheduler.commands.query import highlighted


def test_snippet_markup_from_a_document_is_escaped_and_matches_are_bold() -> None:
    markup = highlighted("a [red]fake[/red] \x1b[31m <mark>heron</mark> flies\nhome")
    text = Text.from_markup(markup)
    assert text.plain == "a [red]fake[/red] \\x1b[31m heron flies home"
    bold = [text.plain[span.start:span.end] for span in text.spans if "bold" in str(span.style)]
    assert bold == ["heron"]
    Console(file=None, record=True).print(markup)  # renders without a markup error
