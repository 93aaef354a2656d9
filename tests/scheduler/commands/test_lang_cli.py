"""`--lang` on the command line: a language that cannot be read here stops `run`, `submit` and `watch` at once,
saying what to install, before anything is queued; and the language is one of the document's options, so the
same file read in another language is OCR'd again rather than skipped as a duplicate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, Page
from models.tables import Job as JobRow
from scheduler.samples import make_image
from worker.providers._tessdata import LanguageData


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # the error and the summary table on unwrapped lines
    return subprocess.run([sys.executable, "-m", "scheduler.cli", "--data", str(data), *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def _documents(data: Path) -> list[Document]:
    if not (data / "pagemill.sqlite").exists():
        return []
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    db.migrate()
    with db.read_session() as s:
        return list(s.scalars(select(Document)))


@pytest.mark.parametrize("command", [["run"], ["submit"], ["watch"]])
def test_an_unknown_language_stops_the_command_before_anything_is_queued(tmp_path: Path,
                                                                         command: list[str]) -> None:
    scan = make_image(tmp_path / "page.png", "Hello there")
    target = str(tmp_path) if command == ["watch"] else str(scan)
    done = _cli(tmp_path / "data", *command, "--lang", "xyz", target)
    assert done.returncode == 3, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "'xyz' is not a Tesseract language code" in said
    assert "pip install tessdata-<code>" in said
    assert _documents(tmp_path / "data") == []


def test_a_language_that_is_not_installed_names_its_package(tmp_path: Path) -> None:
    if "fra" in LanguageData().installed:
        pytest.skip("fra is installed here, so it cannot be missing")
    done = _cli(tmp_path / "data", "run", "--lang", "eng+fra", str(make_image(tmp_path / "p.png", "Bonjour")))
    assert done.returncode == 3
    said = " ".join((done.stdout + done.stderr).split())
    assert "no language data for 'fra'" in said and "apt-get install tesseract-ocr-fra" in said
    assert _documents(tmp_path / "data") == []


def test_a_malformed_language_string_is_a_usage_error(tmp_path: Path) -> None:
    done = _cli(tmp_path / "data", "run", "--lang", "eng fra", str(make_image(tmp_path / "p.png", "Hi")))
    assert done.returncode == 2
    assert "not a Tesseract language string" in " ".join(done.stderr.split())


@pytest.mark.slow
def test_the_same_file_in_another_language_is_read_again_not_deduplicated(tmp_path: Path) -> None:
    scan = make_image(tmp_path / "letter.png", "Dear reader, the quick brown fox jumps over the lazy dog.")
    data = tmp_path / "data"
    first = _cli(data, "run", "--lang", "eng", str(scan))
    again = _cli(data, "run", "--lang", "eng", str(scan))
    other = _cli(data, "run", "--lang", "auto", str(scan))
    for done in (first, again, other):
        assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped: identical content with the same options" in again.stdout
    assert "new options: processing again" in other.stdout
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        assert [j.options["lang"] for j in s.scalars(select(JobRow).order_by(JobRow.id))] == ["eng", "eng", "auto"]
        (doc,) = s.scalars(select(Document))
        assert doc.status == "done"
        (markdown,) = s.scalars(select(Page.markdown).where(Page.document_id == doc.id))
    assert "quick brown fox" in markdown
