"""The provider registry and the worker settings: settings never import the registry, and a PAGEMILL_PROVIDER
that names no provider stops every command that would start work, with what is accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.errors import ConfigError
from tests.conftest import ROOT
from worker.providers import check_provider, get_provider
from worker.settings import WorkerSettings


def test_the_worker_settings_load_without_the_provider_registry() -> None:
    probe = "import sys, worker.settings; print(sorted(m for m in sys.modules if m.startswith('worker.providers')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unknown_provider_is_refused_with_the_choices() -> None:
    check_provider("mistral")
    with pytest.raises(ConfigError, match="unknown provider 'bogus'; choose one of ") as refused:
        get_provider(WorkerSettings(provider="bogus"))
    # other tests may have registered their fakes in this process: the built-in ones are listed either way
    assert {"local", "mistral", "tesseract"} <= set(refused.value.message.rsplit("of ", 1)[1].split(", "))


@pytest.mark.parametrize("command", [["worker"], ["run", "samples/receipt.jpg"]])
def test_commands_that_start_work_stop_on_an_unknown_provider(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "PAGEMILL_PROVIDER": "bogus", "PAGEMILL_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "scheduler.cli", *command], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, check=False)
    assert done.returncode == ConfigError.exit_code
    assert "PAGEMILL_PROVIDER: unknown provider 'bogus'" in " ".join(done.stderr.split())
