"""The intake options of `run`, `submit` and `watch`: one declaration, checked by WorkerSettings, handed to
`submit()`/`run()`/the watcher as a settings object (and from it to the workers), never written to the
command's own environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.commands._intake_options import IntakeFlags
from worker.settings import WorkerSettings

_SETTINGS_FLAGS = {
    "--text-layer", "--vision-min-size", "--lang", "--table-format", "--extract-header", "--extract-footer",
    "--blocks", "--confidence", "--batch", "--batch-fallback", "--schema", "--extract-prompt", "--image-schema",
}
_JOB_FLAGS = {"--pages", "--pages-per-task", "--force", "--password", "--budget"}


def _flags(name: str) -> set[str]:
    command: Any = typer.main.get_command(app)
    return {opt for p in command.commands[name].params for opt in p.opts}


def test_run_submit_and_watch_take_the_same_intake_options() -> None:
    assert _flags("run") >= _SETTINGS_FLAGS | _JOB_FLAGS
    assert _flags("submit") >= _SETTINGS_FLAGS | _JOB_FLAGS
    assert _flags("watch") >= _SETTINGS_FLAGS
    assert not _flags("watch") & _JOB_FLAGS  # one call's options: a watched folder has no single call


@pytest.mark.parametrize(("args", "said"), [
    (["--table-format", "bad"], "Invalid value for --table-format: unknown table format 'bad'"),
    (["--confidence", "words"], "Invalid value for --confidence: unknown confidence granularity 'words'"),
    (["--text-layer", "maybe"], "Invalid value for --text-layer: unknown text layer mode 'maybe'"),
    (["--batch-fallback", "later"], "Invalid value for --batch-fallback: unknown batch fallback 'later'"),
    (["--lang", "eng fra"], "Invalid value for --lang: 'eng fra' is not a Tesseract language string"),
])
@pytest.mark.parametrize("command", ["run", "submit", "watch"])
def test_a_refused_value_is_a_usage_error_naming_its_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           command: str, args: list[str], said: str) -> None:
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "data"))
    out = CliRunner().invoke(app, [command, *args, str(tmp_path)], env={"COLUMNS": "300"})
    assert out.exit_code == 2, out.output
    assert said in " ".join(out.output.split())
    assert not (tmp_path / "data").exists()  # refused before anything was registered


def test_a_bad_value_in_the_environment_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_TABLE_FORMAT", "bad")
    with pytest.raises(ValueError, match="unknown table format"):
        IntakeFlags(lang="eng").settings()


def _capture(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs, args=args)
        raise typer.Exit(0)

    monkeypatch.setattr(f"{module}.{name}", fake)
    return seen


def test_submit_gets_its_options_as_settings_and_keywords_not_through_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PAGEMILL_BATCH", raising=False)
    seen = _capture(monkeypatch, "scheduler.launch.submit", "submit")
    schema = tmp_path / "invoice.json"
    schema.write_text('{"type": "object", "properties": {"total": {"type": "number"}}}')
    before = dict(os.environ)
    out = CliRunner().invoke(app, [
        "submit", str(tmp_path), "--pages", "0-1", "--pages-per-task", "2", "--force", "--password", "pw",
        "--budget", "1.5", "--text-layer", "Only", "--vision-min-size", "300", "--lang", "eng",
        "--table-format", "inline", "--extract-header", "--keep-footer", "--no-blocks", "--confidence", "none",
        "--batch", "--batch-fallback", "sync", "--schema", str(schema), "--extract-prompt", "totals",
    ])
    assert out.exit_code == 0, out.output
    assert dict(os.environ) == before
    assert {k: seen[k] for k in ("pages", "pages_per_task", "force", "password", "budget_usd")} == {
        "pages": "0-1", "pages_per_task": 2, "force": True, "password": "pw", "budget_usd": 1.5}
    s: WorkerSettings = seen["settings"]
    assert (s.text_layer, s.vision_min_size, s.lang, s.table_format, s.extract_header, s.extract_footer,
            s.include_blocks, s.confidence_scores, s.batch, s.batch_fallback, s.schema_path, s.extract_prompt) == (
        "only", 300, "eng", None, True, False, False, None, True, "sync", schema.absolute(), "totals")


def test_run_passes_its_workers_and_watch_its_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "data"))
    ran = _capture(monkeypatch, "scheduler.launch.submit", "run")
    out = CliRunner().invoke(app, ["run", str(tmp_path), "--workers", "3", "--table-format", "markdown"])
    assert out.exit_code == 0, out.output
    assert ran["workers"] == 3 and ran["settings"].table_format == "markdown"
    watched = _capture(monkeypatch, "scheduler.watch.start", "watch_folders")
    out = CliRunner().invoke(app, ["watch", str(tmp_path), "--text-layer", "never", "--confidence", "word"])
    assert out.exit_code == 0, out.output
    assert (watched["settings"].text_layer, watched["settings"].confidence_scores) == ("never", "word")


def test_a_bad_schema_file_stops_the_command_before_anything_is_registered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "data"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = CliRunner().invoke(app, ["submit", str(tmp_path), "--schema", str(bad)])
    assert out.exit_code == 2, out.output
    assert "bad.json" in out.output
    assert not (tmp_path / "data").exists()


def test_the_workers_a_command_starts_read_back_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`child_env` is how the settings reach `pagemill worker` processes started by the command: read back from
    it they are the same, "none" values (inline tables, no confidence) included."""
    monkeypatch.setenv("PAGEMILL_TABLE_FORMAT", "markdown")
    given = WorkerSettings(table_format="inline", confidence_scores="none", lang="auto", batch=True,
                           schema_path=Path("/srv/invoice.json"), vision_min_size=250, api_key="sk-test")
    env = given.child_env()
    for key in list(os.environ):
        if key.startswith("PAGEMILL_") or key == "MISTRAL_API_KEY":
            monkeypatch.delenv(key)
    for key, value in env.items():
        if value is not None:
            monkeypatch.setenv(key, value)
    assert WorkerSettings() == given
    assert env["PAGEMILL_VISION_MIN_SIZE"] == "250"  # the name the vision step's settings read
