"""Read-only commands load only what they use: no Celery, broker, OCR engine, PDF library, HTTP client or web
framework, and no Alembic when the schema is current. Counted from `sys.modules` in a fresh interpreter after
the real CLI ran the command (timings would be noise on a shared machine; bench/bench_startup.py has them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.samples import make_image, page_text
from tests.conftest import ROOT

# what only `run`, `worker`, `serve` and friends need
HEAVY = {"celery", "kombu", "billiard", "tesserocr", "pypdfium2", "httpx", "fastapi", "uvicorn", "alembic"}

_PROBE = """
import json, sys
sys.argv = ["pagemill", *json.loads(sys.argv[1])]
from scheduler.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("\\nPROBE " + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def _probe(args: list[str]) -> tuple[int, set[str], str]:
    """Run `pagemill ARGS` in a new interpreter: its exit code, the modules it loaded (top-level packages and
    every submodule by its full name), its output."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)], env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120,
    )
    out, _, last = proc.stdout.rpartition("\nPROBE ")
    assert last, proc.stdout + proc.stderr
    result = json.loads(last)
    modules = set(result["modules"])
    return int(result["exit"] or 0), modules | {m.split(".")[0] for m in modules}, out + proc.stderr


@pytest.fixture(scope="module")
def one_document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding one OCR'd image, made by `pagemill run` as a user would."""
    folder = tmp_path_factory.mktemp("cli-imports")
    image = folder / "harbour-note.png"
    make_image(image, page_text(7), dpi=150)
    data = folder / "data"
    subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--data", str(data), "run", str(image)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True, timeout=180,
    )
    return data


def test_help_loads_neither_the_database_layer_nor_any_heavy_library() -> None:
    code, modules, out = _probe(["--help"])
    assert code == 0 and "status" in out and "search" in out
    assert not modules & (HEAVY | {"sqlalchemy"}), sorted(modules & (HEAVY | {"sqlalchemy"}))


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["status"], "harbour-note.png"),
        (["status", "1"], "page ranges"),
        (["show", "1"], page_text(7).split()[0]),
        (["search", page_text(7).split()[0]], "harbour-note.png"),
        (["usage"], "total"),
        (["review"], "harbour-note.png"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_read_only_commands_load_no_celery_engine_pdf_http_or_alembic(
    one_document: Path, args: list[str], shown: str
) -> None:
    code, modules, out = _probe(["--data", str(one_document), *args])
    assert code == 0, out
    assert shown in out
    assert not modules & HEAVY, sorted(modules & HEAVY)
    # on SQLite, not even the PostgreSQL dialect (models/tables.py JsonDocument): all its drivers' modules load
    assert "sqlalchemy.dialects.postgresql" not in modules


def test_export_writes_the_markdown_without_loading_heavy_libraries(one_document: Path, tmp_path: Path) -> None:
    code, modules, out = _probe(["--data", str(one_document), "export", "1", "--format", "md", "--out", str(tmp_path)])
    assert code == 0, out
    assert page_text(7).split()[0] in (tmp_path / "document.md").read_text()
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_a_run_without_a_schema_does_not_load_jsonschema(tmp_path: Path) -> None:
    """jsonschema (0.05-0.1 s to load) is for runs with --schema or --image-schema; a plain run OCRs without it."""
    image = tmp_path / "quay-receipt.png"
    make_image(image, page_text(11), dpi=150)
    code, modules, out = _probe(["--data", str(tmp_path / "data"), "run", str(image)])
    assert code == 0, out
    assert "quay-receipt.png" in out and "done" in out
    assert "jsonschema" not in modules


def test_every_commands_help_is_light() -> None:
    """`COMMAND --help` of every registered command, including ones added later, imports nothing heavy."""
    from scheduler.cli import app

    names = sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback is not None)
    assert {"status", "show", "search", "export", "usage", "run"} <= set(names)
    for name in names:
        code, modules, out = _probe([name, "--help"])
        assert code == 0, (name, out)
        assert not modules & HEAVY, (name, sorted(modules & HEAVY))


def test_an_old_schema_is_still_migrated_through_alembic(tmp_path: Path) -> None:
    """The fast check only skips Alembic when the stored revision is the head: a database at an older revision
    is upgraded on the first command."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from models.migrate import alembic_config

    data = tmp_path / "old"
    data.mkdir()
    engine = create_engine(f"sqlite:///{data / 'pagemill.sqlite'}")
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    code, modules, out = _probe(["--data", str(data), "status"])
    assert code == 0, out
    assert "alembic" in modules  # it had work to do
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert [stored] == ScriptDirectory.from_config(cfg).get_heads()
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "variable", "value"),
    [
        (["status"], "PAGEMILL_SQLITE_BUSY_TIMEOUT_MS", "soon"),
        (["run", "nothing-here.png"], "PAGEMILL_DIRECT_MAX_PAGES", "-1"),
        (["run", "nothing-here.png"], "PAGEMILL_MAX_ATTEMPTS", "many"),
    ],
)
def test_a_setting_that_is_refused_still_exits_2_naming_it_before_anything_starts(
    tmp_path: Path, args: list[str], variable: str, value: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--data", str(tmp_path / "data"), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), variable: value}, capture_output=True, text=True, timeout=120,
    )
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert variable in said and "Traceback" not in said
    assert not (tmp_path / "data" / "worker.log").exists()  # no worker was started
