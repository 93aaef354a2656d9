"""The VLM provider against a loopback server that batches like a GPU inference server (vLLM, SGLang).

The server runs up to `--capacity` requests at once (more wait in its queue, as a full batch does); a request
takes `--base` seconds times (1 + 0.5 x the share of the batch in use) -- a fuller batch is slower per request,
but not much -- plus its answer's tokens at `--token-rate` tokens/s (every 5th page is dense: six times the
tokens). Its capacity is therefore capacity / (mean service time at a full batch) pages/s. The client side is
a threads-pool worker: `--ranges` ranges of 8 pages OCR'd at once, each range's pages sent concurrently, and
every request holding a slot of the shared limiter "vlm" (SQLite backend) with PAGEMILL_VLM_MAX_INFLIGHT equal
to the capacity. Pages are 1288 px renders of a scanned sample (rendered, PNG-encoded and decoded for real).

    python bench/bench_vlm.py [--pages 512] [--capacity 32] [--base 1.0] [--token-rate 400] [--ranges 6]

Prints pages/s, the server's capacity, their ratio (target >= 0.9), the mean batch in use, and pages lost or
sent twice (both must be 0).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.samples import page_text, render_text_image  # noqa: E402
from tests.fakes._http_fake import Answer, LoopbackServer  # noqa: E402
from worker.providers.base import SourceDocument  # noqa: E402
from worker.providers.vlm.client import VlmClient  # noqa: E402
from worker.providers.vlm.profiles import choose_profile  # noqa: E402
from worker.providers.vlm.provider import VlmProvider  # noqa: E402

NORMAL_TOKENS, DENSE_TOKENS = 150, 900
PAGES_PER_RANGE = 8


class BatchingServer(LoopbackServer[Any]):
    def __init__(self, capacity: int, base_s: float, token_rate: float) -> None:
        super().__init__()
        self.capacity, self.base_s, self.token_rate = capacity, base_s, token_rate
        self._slots = threading.Semaphore(capacity)
        self._active = 0
        self._busy_area = 0.0  # integral of active requests over time
        self._last = time.monotonic()
        self.seen: Counter[str] = Counter()
        self._n = 0

    def _account(self, delta: int) -> None:
        with self._lock:
            now = time.monotonic()
            self._busy_area += self._active * (now - self._last)
            self._last = now
            self._active += delta

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        body = json.loads(raw)
        parts = body["messages"][0]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        data = base64.b64decode(url.partition(",")[2])
        with Image.open(io.BytesIO(data)) as im:  # decoded, as a server must
            im.load()
        with self._lock:
            self.seen[hashlib.sha256(data).hexdigest()] += 1
            self._n += 1
            dense = self._n % 5 == 0
        tokens = DENSE_TOKENS if dense else NORMAL_TOKENS
        with self._slots:
            self._account(+1)
            share = self._active / self.capacity
            time.sleep(self.base_s * (1 + 0.5 * share) + tokens / self.token_rate)
            self._account(-1)
        text = "# Page\n\n" + " ".join(f"word{i}" for i in range(tokens // 2))
        return 200, {"id": "x", "object": "chat.completion", "created": 0, "model": "bench",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1000, "completion_tokens": tokens}}, {}

    def capacity_pages_per_s(self) -> float:
        mean_tokens = (4 * NORMAL_TOKENS + DENSE_TOKENS) / 5
        return self.capacity / (self.base_s * 1.5 + mean_tokens / self.token_rate)

    def mean_batch(self, seconds: float) -> float:
        self._account(0)
        return self._busy_area / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=512)
    ap.add_argument("--capacity", type=int, default=32)
    ap.add_argument("--base", type=float, default=1.0)
    ap.add_argument("--token-rate", type=float, default=400.0)
    ap.add_argument("--ranges", type=int, default=6, help="ranges OCR'd at once (worker threads)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-vlm-"))
    # distinct pages (so "sent twice" is visible): a few rendered texts, each page stamped with its number
    bases = [render_text_image(page_text(i, 50), dpi=100) for i in range(4)]
    frames = []
    for n in range(args.pages):
        im = bases[n % 4].copy()
        im.paste(0, (10 + (n % 400), 10 + (n // 400) * 6, 12 + (n % 400), 14 + (n // 400) * 6))
        frames.append(im)
    pdf = tmp / "bench.pdf"
    frames[0].save(pdf, "PDF", resolution=100, save_all=True, append_images=frames[1:])
    source = SourceDocument(path=pdf, mime_type="application/pdf", kind="pdf", page_count=args.pages)

    from worker.ratelimit.limiter import build_limiter
    from worker.settings import WorkerSettings

    settings = WorkerSettings(data_dir=tmp)
    from models.db import Database
    from models.settings import DatabaseSettings

    Database.from_settings(DatabaseSettings(data_dir=tmp, database_url=None)).migrate()  # the limiter's table

    with BatchingServer(args.capacity, args.base, args.token_rate) as server:
        limiter = build_limiter(settings, name="vlm", rate_per_s=0, max_inflight=args.capacity, max_wait_s=600)
        client = VlmClient(server.url, "bench-model", None, timeout_s=600, limiter=limiter)
        provider = VlmProvider(client, choose_profile("bench", "markdown"), max_inflight=args.capacity,
                               fallback="none")
        ranges = [list(range(i, min(i + PAGES_PER_RANGE, args.pages)))
                  for i in range(0, args.pages, PAGES_PER_RANGE)]
        started = time.monotonic()
        with ThreadPoolExecutor(args.ranges) as pool:
            results = list(pool.map(lambda pages: provider.ocr(source, pages), ranges))
        elapsed = time.monotonic() - started
        provider.close()
        got = sorted(p.index for r in results for p in r.pages)
        lost = args.pages - len(set(got))
        twice = sum(c - 1 for c in server.seen.values() if c > 1)
        rate = args.pages / elapsed
        cap = server.capacity_pages_per_s()
        print(f"pages {args.pages} in {elapsed:.1f} s: {rate:.2f} pages/s; server capacity {cap:.2f} pages/s; "
              f"ratio {rate / cap:.3f} (target >= 0.9); mean batch in use {server.mean_batch(elapsed):.1f} of "
              f"{args.capacity}; requests {sum(server.seen.values())}; lost {lost}; sent twice {twice}")


if __name__ == "__main__":
    main()
