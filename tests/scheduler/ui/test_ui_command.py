"""`pagemill ui` as a command: it refuses a bind beyond loopback without a token, asks for the token when it has
one, and its CLI module loads nothing heavy (read-only commands start fast)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from models.db import Database
from tests.prom import free_port
from tests.results_db import migrated_database
from tests.scheduler.ui.helpers import Library, fill_library
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings


def _cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pagemill ui exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("pagemill ui did not answer")


@pytest.fixture
def library(data_dir: Path, tmp_path: Path) -> Library:
    data_dir.mkdir(parents=True, exist_ok=True)
    db: Database = migrated_database(f"sqlite:///{data_dir / 'pagemill.sqlite'}")
    try:
        return fill_library(db, FolderStore(WorkerSettings().objects_dir), tmp_path)
    finally:
        db.dispose()


def test_the_cli_module_loads_no_web_stack() -> None:
    code = ("import sys, scheduler.cli; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'jinja2', 'markdown_it', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_bind_beyond_loopback_needs_a_token(data_dir: Path, library: Library) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PAGEMILL_UI_TOKEN"}
    refused = _cli("ui", "--host", "0.0.0.0", "--port", str(free_port()), env=env, timeout=30)
    assert refused.returncode == 2
    assert "PAGEMILL_UI_TOKEN" in refused.stderr

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "ui", "--host", "0.0.0.0", "--port", str(port)],
                            env=dict(env, PAGEMILL_UI_TOKEN="s3cret-token"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base + "/static/ui.css", proc)
        assert httpx.get(base + "/").status_code == 401
        assert httpx.get(base + "/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        with httpx.Client(base_url=base) as c:
            assert c.post("/login", data={"token": "wrong"}).status_code == 401
            assert c.post("/login", data={"token": "s3cret-token"}).status_code == 303
            assert "letters.pdf" in c.get("/").text  # the cookie carries the token from now on
    finally:
        proc.terminate()
        proc.wait(15)
