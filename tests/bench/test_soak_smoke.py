"""A short soak (bench/soak.py, issue 39): one minute of mixed work with a fixed seed and a few faults on the
production shape (PostgreSQL behind a cuttable proxy, a Redis of its own, moto's S3, three workers on two hosts,
the scheduler with a watched folder, the Mistral/Batch fake), then the count: nothing lost, nothing stored or
billed twice, nothing stuck. About 2-3 minutes; the long run (`--minutes 60`) is a benchmark, not a test."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_URL, ROOT, _reachable

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def _why_not() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH: the soak restarts a Redis of its own"
    if not _reachable(POSTGRES_URL, 5432):
        return f"PostgreSQL not reachable at {POSTGRES_URL} (set PAGEMILL_TEST_POSTGRES_URL)"
    for module in ("moto.server", "boto3"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return f"the soak needs moto[server] and boto3 ({module} missing)"
    return None


def test_a_short_soak_under_faults_loses_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(PYTHONPATH=str(ROOT), PAGEMILL_SOAK_POSTGRES=POSTGRES_URL)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--seed", "39", "--minutes", "1.2", "--drain-minutes", "2",
         "--work", str(tmp_path / "soak")],
        env=env, capture_output=True, text=True, timeout=420, check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "LOST               0" in out and "verdict              PASS" in out, out[-6000:]
    assert "faults injected      none" not in out, out[-3000:]  # the seed's schedule did inject faults
