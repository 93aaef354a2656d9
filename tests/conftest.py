"""Shared fixtures: an isolated data folder per test, and real Redis/PostgreSQL when they are reachable.

Redis and PostgreSQL tests skip with a visible reason when the servers are absent (they run in CI):
PAGEMILL_TEST_REDIS_URL (default redis://127.0.0.1:6379/15) and PAGEMILL_TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each PostgreSQL test gets its own schema.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

REDIS_URL = os.environ.get("PAGEMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("PAGEMILL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent
# the shared corpus of real documents sits beside the checkout; PAGEMILL_TEST_CORPUS points at it from elsewhere
CORPUS = Path(os.environ.get("PAGEMILL_TEST_CORPUS") or ROOT.parent / "shared" / "corpus")
CORPUS_MISSING = (f"the shared corpus of real documents was not found at {CORPUS} (looked for ../shared/corpus "
                  "beside this checkout): set PAGEMILL_TEST_CORPUS to its folder to run this test")


def _reachable(url: str, default_port: int) -> bool:
    u = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's PAGEMILL_* settings or keys; each gets its own data folder."""
    for key in list(os.environ):
        if key.startswith("PAGEMILL_") or key in ("MISTRAL_API_KEY",):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "data"))
    # a test's fake provider that answers 5xx means "this fails": spend the attempts at once, not after the ten
    # minutes an outage is given in production (tests/worker/ranges/test_outage_window.py tests that window)
    monkeypatch.setenv("PAGEMILL_RETRY_WINDOW_S", "0")
    yield


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not _reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis not reachable at {REDIS_URL} (set PAGEMILL_TEST_REDIS_URL)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    if not _reachable(POSTGRES_URL, 5432):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set PAGEMILL_TEST_POSTGRES_URL)")
    from sqlalchemy import create_engine, text

    schema = f"pm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch, redis_url: str, postgres_url: str) -> dict[str, str]:
    """Redis broker + PostgreSQL results, with a queue of its own."""
    env = {
        "PAGEMILL_BROKER_URL": redis_url,
        "PAGEMILL_DATABASE_URL": postgres_url,
        "PAGEMILL_QUEUE": f"pagemill-test-{uuid.uuid4().hex[:8]}",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def start_worker(env_extra: dict[str, str] | None = None, concurrency: int = 2, log: Path | None = None,
                 args: list[str] | None = None) -> subprocess.Popen[bytes]:
    """A real `pagemill worker` process with the current environment (plus `env_extra`)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "worker", "--concurrency", str(concurrency), *(args or [])],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.replace("#", " ").replace("*", " ").split())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after NFKC and whitespace folding (markdown marks ignored)."""
    import jiwer

    return float(jiwer.cer(normalize(reference), normalize(hypothesis)))


def wait_until(predicate, timeout_s: float = 60, interval_s: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """moto's S3 server on 127.0.0.1 for the session; skips with the reason when it cannot start here."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"S3 tests need moto[server] and boto3 (pip install 'moto[server]'): {exc}")
    from tests.fakes.s3_server import MotoS3

    server = MotoS3(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        server.start()
    except RuntimeError as exc:
        pytest.skip(f"the S3 test server (moto_server) could not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3_objects(moto_s3: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """PAGEMILL_OBJECTS_URL naming a fresh bucket (and prefix) on the test server, AWS_* pointing there."""
    from tests.fakes.s3_server import MotoS3, aws_env

    assert isinstance(moto_s3, MotoS3)
    for key, value in aws_env(moto_s3.endpoint, tmp_path).items():
        monkeypatch.setenv(key, value)
    url = f"s3://{moto_s3.new_bucket()}/pm"
    monkeypatch.setenv("PAGEMILL_OBJECTS_URL", url)
    return url
