"""End to end as a newcomer would, with no key: `pagemill run` on a born-digital report and on a scan of it; the
stored pages carry headings, tables, figures, typed blocks, header/footer and (for the scan) confidence, and
`show` and `export` give them back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models import Database, DatabaseSettings
from models.tables import Document, Image, Page, PageBlock, PageTable
from tests.structure_docs import make_report, scan_pdf


def _pagemill(data: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update({"PAGEMILL_DATA_DIR": str(data), "PAGEMILL_EMBEDDED_WORKERS": "2", "COLUMNS": "200"})
    out = subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_local_run_stores_the_structure_of_text_layers_and_scans(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    make_report(folder / "report.pdf")
    scan_pdf(folder / "report.pdf", folder / "report-scan.pdf", dpi=200)
    _pagemill(data, "run", str(folder), "--extract-header", "--extract-footer")

    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        docs = {d.filename: d.id for d in s.scalars(select(Document))}
        assert set(docs) == {"report.pdf", "report-scan.pdf"}
        for name, doc_id in docs.items():
            page = s.scalar(select(Page).where(Page.document_id == doc_id))
            assert page is not None
            lines = page.markdown.splitlines()
            assert "# Quarterly Delivery Report" in lines and "## Results" in lines, name
            assert "- Replace the sorting machines in the west" in lines and "1. Collect the weekly counts" in lines
            assert page.header == "Northwind Logistics - internal" and page.footer == "Page 1"
            tables = list(s.scalars(select(PageTable).where(PageTable.document_id == doc_id)))
            assert len(tables) == 2 and "<td>North</td><td>1200</td><td>31</td><td>4.10</td>" in tables[0].content
            assert all(f"[{t.table_id}]({t.table_id})" in page.markdown for t in tables)
            images = list(s.scalars(select(Image).where(Image.document_id == doc_id)))
            assert len(images) == 1 and f"]({images[0].name})" in page.markdown
            types = {b.type for b in s.scalars(select(PageBlock).where(PageBlock.document_id == doc_id))}
            assert {"title", "text", "list", "table", "image", "caption", "header", "footer"} <= types, types
            if name == "report-scan.pdf":
                assert page.confidence_avg is not None and 0.5 < page.confidence_avg <= 1.0
    db.dispose()

    shown = _pagemill(data, "show", str(docs["report-scan.pdf"]), "--page", "0")
    assert "# Quarterly Delivery Report" in shown and "Orders per region" in shown
    _pagemill(data, "export", str(docs["report.pdf"]), "--format", "md", "--out", str(tmp_path / "md"))
    md = (tmp_path / "md" / "document.md").read_text()
    assert "# Quarterly Delivery Report" in md and "<th>Returns</th>" in md  # the table put back in its place
    assert (tmp_path / "md" / "images").is_dir() and any((tmp_path / "md" / "images").iterdir())
