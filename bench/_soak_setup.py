"""The soak's run: its settings (the command line, the work folder, what was fed), the environment every pagemill
process of the soak gets, and how a pagemill command is started."""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _soak_files import Fed

from tests.fakes.s3_server import MotoS3, aws_env

__all__ = ["KEY", "PG_ADMIN", "PG_PORT", "WORKERS", "ROOT", "Run", "base_env", "log", "pagemill_cmd"]

ROOT = Path(__file__).resolve().parent.parent

KEY = "sk-soak-key"
PG_ADMIN = os.environ.get("PAGEMILL_SOAK_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_PORT = 5432
WORKERS = {"worker-a1": "host-a", "worker-a2": "host-a", "worker-b1": "host-b"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Run:
    args: argparse.Namespace
    work: Path
    rng: random.Random
    db_name: str = ""
    db_url: str = ""  # through the proxy: what pagemill uses
    direct_url: str = ""  # the soak's own view
    env: dict[str, str] = field(default_factory=dict)
    fed: list[Fed] = field(default_factory=list)
    submit_failures: list[str] = field(default_factory=list)
    not_accepted: list[Fed] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (wall time, pages stored)
    fed_lock: threading.Lock = field(default_factory=threading.Lock)


def base_env(run: Run, redis_port: int, proxy_port: int, moto: MotoS3, bucket: str, api: Any,
             hooks: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGEMILL_", "AWS_"))}
    env.update(aws_env(moto.endpoint, run.work))
    env.update({
        "PYTHONPATH": str(ROOT),
        "PAGEMILL_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PAGEMILL_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy_port}/{run.db_name}",
        "PAGEMILL_OBJECTS_URL": f"s3://{bucket}/pm",
        "PAGEMILL_OBJECTS_RETRIES": "2",
        "PAGEMILL_PROVIDER": "mistral",
        "PAGEMILL_OCR_BASE_URL": api.url,
        "MISTRAL_API_KEY": KEY,
        "PAGEMILL_RATE_LIMIT": str(run.args.rate),
        "PAGEMILL_MAX_INFLIGHT": "8",
        "PAGEMILL_PAGES_PER_TASK": "3",
        "PAGEMILL_REQUEST_TIMEOUT_S": "30",
        "PAGEMILL_LEASE_S": "30",
        "PAGEMILL_REQUEUE_AFTER_S": "30",
        "PAGEMILL_SWEEP_INTERVAL_S": "3",
        "PAGEMILL_RETRY_BASE_S": "1",
        # an API outage (60 s of 429/503 at most here) spends no attempts within PAGEMILL_RETRY_WINDOW_S, left at
        # its default (10 min; the environment's PAGEMILL_* are not passed on). 9 attempts with waits of up to
        # 30 s are what the first hour-long runs had alone, and 9 quick tries in a 52 s outage still failed a
        # range then (worker/ranges/failures.py)
        "PAGEMILL_RETRY_MAX_S": "30",
        "PAGEMILL_MAX_ATTEMPTS": "9",
        "PAGEMILL_BATCH_MAX_WAIT_S": "15",
        "PAGEMILL_BATCH_POLL_MIN_S": "2",
        "PAGEMILL_BATCH_POLL_MAX_S": "8",
        "PAGEMILL_WATCH_POLLING": "true",
        "PAGEMILL_WATCH_SETTLE_S": "2",
        "PAGEMILL_WATCH_RESCAN_INTERVAL_S": "20",
        "PAGEMILL_LOG_FORMAT": "text",
        # one subscription from the environment, to the soak's loopback receiver (_soak_hooks.py); retries
        # bounded so events held back while the receiver is away arrive within the drain
        "PAGEMILL_WEBHOOK_URL": hooks.url,
        "PAGEMILL_WEBHOOK_SECRET": hooks.secret,
        "PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "1",
        "PAGEMILL_WEBHOOK_RETRY_BASE_S": "2",
        "PAGEMILL_WEBHOOK_RETRY_MAX_S": "15",
    })
    return env


def pagemill_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scheduler.cli", *args]
