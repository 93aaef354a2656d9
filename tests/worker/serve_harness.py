"""Start a real `pagemill serve` process on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["free_port", "running_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                   timeout_s: float = 90) -> Iterator[str]:
    """`pagemill serve ARGS` in a subprocess; yields its base URL (what the SDK calls `server_url`)."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_SERVE_")}
    full_env.update({"PAGEMILL_DATA_DIR": str(data_dir), **(env or {})})
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pagemill serve exited with {proc.returncode}: "
                                   f"{(data_dir / f'serve-{port}.log').read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("pagemill serve did not answer /health in time")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
