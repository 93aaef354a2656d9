"""Chunks of documents of known structure: within the limit, headings right, tables whole or split with their
header, pages right, corrections in, and the chunks (minus what they repeat) giving the document back."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.corrections import save_correction
from models.db import Database
from models.tables import Document, Job, JobDocument, PageTable
from scheduler.chunks import ChunkOptions, chunk_pages, document_chunks, stored_text
from scheduler.cli import app
from tests.results_db import add_document, migrated_database


def fold(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def db() -> Database:
    database = migrated_database(Database.from_settings().url)
    yield database
    database.dispose()


# ---- a generated document whose structure is known ------------------------------------------------------------

WORDS = ("delivery parcel warehouse north south cost quarter volume staff machine route driver customer "
         "record share order week month measure compare repeat season").split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def table(rng: random.Random, name: str, rows: int) -> list[str]:
    out = [f"| {name} | Orders | Late |", "|---|---|---|"]
    out += [f"| {name}-{i} | {rng.randint(100, 9999)} | {rng.randint(0, 99)} |" for i in range(rows)]
    return out


def generated(seed: int = 7) -> tuple[list[str], dict[str, list[str]], dict[str, int]]:
    """Pages of markdown; the heading path expected for each paragraph's first words; the page of each table's
    first row. The second page starts in the middle of the first page's last paragraph."""
    rng = random.Random(seed)
    expected: dict[str, list[str]] = {}
    table_page: dict[str, int] = {}
    pages: list[list[str]] = [[] for _ in range(4)]

    def para(page: int, path: list[str], n: int) -> str:
        text = paragraph(rng, n)
        expected[text[:40]] = path
        pages[page].append(text)
        return text

    pages[0] += ["# Annual Report", "## 1. Summary"]
    para(0, ["Annual Report", "1. Summary"], 3)
    pages[0] += ["## 2. Methods", "### 2.1 Data"]
    para(0, ["Annual Report", "2. Methods", "2.1 Data"], 12)  # longer than a chunk: cut at sentences
    pages[0].append("\n".join(table(rng, "small", 4)))
    table_page["small"] = 0
    pages[0].append("- collect the counts\n- compare them\n- report them")
    cut = "The counts of the last quarter were compared with the same weeks of the year before and the"
    pages[0].append(cut)
    pages[1].append("differences were small in every region except the west.")
    expected[cut[:40]] = ["Annual Report", "2. Methods", "2.1 Data"]
    pages[1] += ["### 2.2 Analysis"]
    para(1, ["Annual Report", "2. Methods", "2.2 Analysis"], 2)
    pages[1].append("\n".join(table(rng, "big", 60)))  # longer than a chunk: split by rows, header repeated
    table_page["big"] = 1
    pages[2] += ["## 3. Results"]
    para(2, ["Annual Report", "3. Results"], 4)
    pages[2].append("[tbl-2-0.html](tbl-2-0.html)")  # a stored HTML table, placed at its link
    pages[3] += ["## 4. Next steps"]
    para(3, ["Annual Report", "4. Next steps"], 2)
    return ["\n\n".join(p) for p in pages], expected, table_page


HTML_TABLE = ("<table><tr><th>Region</th><th>Cost</th></tr>"
              + "".join(f"<tr><td>zone{i}</td><td>{i * 3}.10</td></tr>" for i in range(40)) + "</table>")


@pytest.fixture
def report(db: Database) -> tuple[int, dict[str, list[str]], dict[str, int]]:
    pages, expected, table_page = generated()
    doc = add_document(db, "annual.pdf", pages)
    with db.write_session() as s:
        s.get(Document, doc).collection = "reports/2025"
        s.add(PageTable(document_id=doc, page_index=2, table_id="tbl-2-0.html", format="html", content=HTML_TABLE,
                        text="Region Cost"))
    return doc, expected, table_page


def check_chunks(db: Database, doc: int, options: ChunkOptions) -> list:
    chunks = document_chunks(db, doc, options)
    measure = options.measure()
    whole = stored_text(db, doc)
    for c in chunks:
        assert measure(c.text) <= options.limit, (c.size, c.text)
        assert c.size == measure(c.text)
        assert c.text[c.prefix:len(c.text) - c.suffix] == whole[c.start:c.end]
        # a chunk holds a heading only at its start (the ones it carries)
        body = c.text[c.prefix:]
        headings = re.findall(r"(?m)^#+ (.*)$", body)
        assert headings == c.headings[len(c.headings) - len(headings):], (headings, c.headings)
        if headings:
            assert body.startswith("#")
    # the chunks' own text, in order, gives the document back: nothing but blank space between them
    bounds = [0, *[x for c in chunks for x in (c.start, c.end)], len(whole)]
    assert all(a <= b and whole[a:b].strip() == "" for a, b in zip(bounds[::2], bounds[1::2]))
    return chunks


@pytest.mark.parametrize("options", [
    ChunkOptions(max_size=600),
    ChunkOptions(max_size=300, overlap=60),
    ChunkOptions(max_size=120, unit="tokens", overlap=10),
    ChunkOptions(max_size=80, unit="tokens", tokenizer=lambda t: len(t.encode()) // 3 + 1),
], ids=["600-chars", "300-chars-overlap", "120-tokens-overlap", "80-custom-tokenizer"])
def test_chunks_follow_the_structure(db: Database, report, options: ChunkOptions) -> None:
    doc, expected, table_page = report
    chunks = check_chunks(db, doc, options)
    pages, _, _ = generated()
    # the document's text is its pages' text, the table at its link
    assert fold(stored_text(db, doc)) == fold("\n\n".join(pages).replace("[tbl-2-0.html](tbl-2-0.html)", HTML_TABLE))
    assert all(c.filename == "annual.pdf" and c.collection == "reports/2025" and c.document_id == doc
               for c in chunks)
    # every paragraph sits under its headings and on its page
    for start, path in expected.items():
        holding = [c for c in chunks if start in c.text[c.prefix:]]
        assert holding, start
        assert holding[0].headings == path, (start, holding[0].headings)
        page = next(i for i, p in enumerate(pages) if start in p)
        assert page in holding[0].pages
    # the small table is whole in one chunk
    small = [c for c in chunks if "| small |" in c.text]
    assert len(small) == 1 and all(f"| small-{i} |" in small[0].text for i in range(4))
    # the big table: every piece starts with the header, every row exactly once, all on page 1
    big = [c for c in chunks if "| big |" in c.text]
    assert len(big) > 1
    for c in big:
        assert c.text.count("| big | Orders | Late |\n|---|---|---|") == 1
        assert c.text.index("| big | Orders |") < c.text.index("| big-")
        assert c.pages == [1]
    rows = [r for c in big for r in re.findall(r"\| (big-\d+) \|", c.text)]
    assert rows == [f"big-{i}" for i in range(60)]
    # the HTML table placed at its link on page 2, split with its header row and closed
    html = [c for c in chunks if "zone" in c.text]
    assert all(c.pages == [2] for c in html)
    if options.limit < 200 or (options.unit == "chars" and options.limit < 1500):
        assert len(html) > 1
        for c in html:
            assert "<tr><th>Region</th><th>Cost</th></tr>" in c.text and c.text.rstrip().endswith("</table>")
    cells = [z for c in html for z in re.findall(r"<td>(zone\d+)</td>", c.text)]
    assert cells == [f"zone{i}" for i in range(40)]


def test_a_paragraph_cut_by_a_page_break_is_joined(db: Database, report) -> None:
    doc, _, _ = report
    chunks = document_chunks(db, doc, ChunkOptions(max_size=2000))
    joined = "with the same weeks of the year before and the differences were small in every region"
    holding = [c for c in chunks if joined in c.text]
    assert len(holding) == 1 and holding[0].pages[:2] == [0, 1]


def test_a_new_heading_starts_a_new_chunk_but_a_title_travels_with_its_first_section() -> None:
    pieces = chunk_pages([(0, "# Title\n\n## A\n\nText of A.\n\n## B\n\nText of B.")], ChunkOptions(max_size=500))
    assert [p.text for p in pieces] == ["# Title\n\n## A\n\nText of A.", "## B\n\nText of B."]
    assert [p.headings for p in pieces] == [["Title", "A"], ["Title", "B"]]


def test_a_list_that_fits_stays_whole_and_a_long_one_is_split_by_items() -> None:
    items = "\n".join(f"- item number {i} of the list" for i in range(30))
    whole = chunk_pages([(0, "## L\n\n" + items)], ChunkOptions(max_size=2000))
    assert len(whole) == 1 and items in whole[0].text
    split = chunk_pages([(0, "## L\n\n" + items)], ChunkOptions(max_size=200))
    assert len(split) > 1
    for p in split:
        body = p.text.split("\n\n", 1)[-1] if p.text.startswith("#") else p.text
        assert all(line.startswith("- item number") for line in body.splitlines())


def test_corrected_text_is_what_chunks_contain(db: Database, report) -> None:
    doc, _, _ = report
    save_correction(db, doc, 3, "## 4. Next steps\n\nThe corrected plan: open a depot in Valparaiso.", "ana")
    chunks = document_chunks(db, doc, ChunkOptions(max_size=600))
    last = [c for c in chunks if 3 in c.pages]
    assert any("open a depot in Valparaiso" in c.text for c in last)
    assert all(c.headings == ["Annual Report", "4. Next steps"] for c in last)


def test_export_chunks_for_a_document_a_job_and_all(db: Database, report, tmp_path: Path) -> None:
    doc, _, _ = report
    other = add_document(db, "notes.pdf", ["# Notes\n\nA short note."])
    with db.write_session() as s:
        job = Job(kind="run")
        s.add(job)
        s.flush()
        s.add(JobDocument(job_id=job.id, document_id=other, filename="notes.pdf", outcome="queued"))
        job_id = job.id
    runner = CliRunner()
    for ref, expect in ((str(doc), {doc}), (f"job:{job_id}", {other}), (None, {doc, other})):
        out = tmp_path / f"{ref or 'all'}.jsonl".replace(":", "-")
        args = ["export", *([ref] if ref else ["--all"]), "--format", "chunks", "--out", str(out),
                "--chunk-size", "500"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert {r["document_id"] for r in lines} == expect
        assert all(len(r["text"]) <= 500 for r in lines)
        assert {"text", "heading_path", "pages", "filename", "collection", "chunk_id"} <= set(lines[0])
    bad = runner.invoke(app, ["export", str(doc), "--format", "chunks", "--chunk-overlap", "400",
                              "--chunk-size", "500", "--out", str(tmp_path / "x.jsonl")])
    assert bad.exit_code != 0 and "overlap" in bad.output
