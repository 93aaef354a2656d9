"""Security: the API key never appears in logs, tracebacks, the database or `status` output; the embedded data
folder is owner-only; nothing under the object folder is named after an input or a response."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e._faults import fault_env, make_pdf

FAKE_KEY = "sk-FAKE-pagemill-7c1e9d0a4b2f4e61"


def _pagemill(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_api_key_is_redacted_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0", PAGEMILL_TEST_LEAK_PAGES="0,1",
              PAGEMILL_EMBEDDED_WORKERS="1")
    monkeypatch.setenv("MISTRAL_API_KEY", FAKE_KEY)
    make_pdf(tmp_path / "leaky.pdf", 3)
    env = dict(os.environ)
    run = _pagemill(env, "-v", "run", "--pages-per-task", "1", str(tmp_path / "leaky.pdf"))
    assert run.returncode == 1  # two ranges failed, as arranged
    status = _pagemill(env, "status")
    detail = _pagemill(env, "status", "1")
    assert detail.returncode == 0 and "***" in detail.stdout  # the errors are shown, with the key masked
    import sqlite3

    con = sqlite3.connect(data_dir / "pagemill.sqlite")
    dump = "\n".join(con.iterdump())
    con.close()
    log = (data_dir / "worker.log").read_text(errors="replace")
    assert "Traceback" in log and "RuntimeError" in log  # the traceback was logged...
    everything = {"run output": run.stdout + run.stderr, "status": status.stdout + status.stderr,
                  "status 1": detail.stdout + detail.stderr, "database dump": dump, "worker log": log}
    for where, text in everything.items():
        assert FAKE_KEY not in text, f"the API key leaked into the {where}"  # ...without the key


def test_embedded_data_folder_is_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    from scheduler.launch.submit import submit

    fault_env(monkeypatch)
    submit([make_pdf(tmp_path / "a.pdf", 2)], wait=False, start_workers=False)
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert (data_dir / "objects").stat().st_mode & 0o777 == 0o700
    for name in ("pagemill.sqlite", "broker.sqlite"):
        assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name
    for f in (data_dir / "objects").rglob("*"):
        if f.is_file():
            assert f.stat().st_mode & 0o077 == 0, f
            kind, prefix, leaf = f.relative_to(data_dir / "objects").parts
            assert leaf.startswith(prefix) and len(leaf.split(".")[0]) == 64  # content-addressed, not named
