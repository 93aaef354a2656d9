"""The soak's loopback Mistral API: the Batch/Files fake (tests/fakes/batch_server.py) with random latency, a
rate limit (429), occasional 5xx, an "outage" mode (every request answered 429 or 503) and a billing log.

Billing log: every page the fake answers 200 for (a synchronous /v1/ocr request or a line of a batch job) is
recorded under its *page key*. The soak's files give every page a size of its own (see _soak_files.py), so the
key names the fed file and the page, whatever range or request carried it: a page the provider billed twice is
a key counted twice. Request bodies are not kept (they hold whole PDFs)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _soak_files import page_key_of_size

from tests.fakes._http_fake import ERROR_BODIES, Answer
from tests.fakes.batch_server import BatchServer
from tests.fakes.mistral_server import Received

__all__ = ["Bill", "SoakApi"]


@dataclass
class Bill:
    at: float
    kind: str  # sync | batch
    keys: list[str]


class SoakApi(BatchServer):
    def __init__(self, api_key: str, seed: int, rate_limit: float, latency: tuple[float, float],
                 p_5xx: float, queue_s: float, run_s: float) -> None:
        super().__init__(api_key=api_key, queue_s=queue_s, run_s=run_s, rate_limit=rate_limit)
        self.rng = random.Random(seed ^ 0x5EED)
        self.latency = latency
        self.p_5xx = p_5xx
        self.outage: int | None = None  # 429 or 503 while an outage fault is on
        self.bills: list[Bill] = []
        self.status_counts: Counter[int] = Counter()
        self._local = threading.local()

    # every endpoint goes down together in an outage
    def _outage_answer(self) -> Answer | None:
        code = self.outage
        if code is None:
            return None
        if code == 429:
            return 429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "2"}
        return 503, {"detail": "Service Unavailable"}, {}

    def _decide(self, fault: Any, body: Any, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        down = self._outage_answer()
        if down is not None:
            return (*down, 0)
        with self._lock:
            roll = self.rng.random()
            delay = self.rng.uniform(*self.latency)
        if roll < self.p_5xx:
            time.sleep(delay / 4)
            return 500 if roll < self.p_5xx / 2 else 502, {"detail": "upstream trouble"}, {}, 0
        answer = super()._decide(fault, body, headers)
        if answer[0] == 200:
            time.sleep(delay)  # the time the real API takes to read the pages (a 429 comes back at once)
        return answer

    def _route(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        down = self._outage_answer()
        if down is not None:
            return down
        return super()._route(method, path, raw, headers)

    def _answer_lines(self, job: Any, upto: int) -> None:
        self._local.batch = True
        try:
            super()._answer_lines(job, upto)
        finally:
            self._local.batch = False

    def _ocr(self, body: Any):  # type: ignore[no-untyped-def]
        status, payload, headers, pages = super()._ocr(body)
        if status == 200 and isinstance(payload, dict):
            kind = body["document"]["type"]
            keys = []
            for page in payload["pages"]:
                dims = page["dimensions"]
                keys.append(page_key_of_size(kind, dims["width"], dims["height"]))
            bill = Bill(time.time(), "batch" if getattr(self._local, "batch", False) else "sync", keys)
            with self._bill_lock:
                self.bills.append(bill)
        return status, payload, headers, pages

    @property
    def _bill_lock(self) -> threading.Lock:
        lock = self.__dict__.get("_bl")
        if lock is None:
            lock = self.__dict__.setdefault("_bl", threading.Lock())
        return lock

    def _record(self, record: Received) -> None:  # type: ignore[override]
        with self._lock:
            self.status_counts[record.status] += 1  # counts only: bodies hold whole documents

    def billed(self) -> Counter[str]:
        with self._bill_lock:
            return Counter(k for b in self.bills for k in b.keys)
