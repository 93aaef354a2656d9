"""Webhook delivery: how many events a second reach a receiver that answers in 50 ms, and what a subscription
costs a pipeline running at full speed. Not a test: prints figures.

    python bench/bench_webhooks.py [--part deliver|pipeline|both] [--events 10000] [--latency 0.05]
                                   [--docs 150] [--rounds 2]

- `deliver`: N document events already in the outbox (SQLite), one subscription, `pagemill webhooks deliver
  --follow` as its own process; the receiver (this process, on 127.0.0.1) verifies every signature with the
  `standardwebhooks` library and answers after `--latency`. Prints events/s from the deliverer's start to the
  last event, and how many arrived more than once.
- `pipeline`: `pagemill run` of `--docs` two-page PDFs against the loopback Mistral fake (answering at once), with
  and without a subscription, interleaved (the order alternates each round). Prints pages/s of each run, and for
  the subscribed runs the delay from each document's `finished_at` (its last range stored, in the same
  transaction) to its `document.done` arriving: p50, p95, max. Target: p95 under 2 s, and no slower pipeline.

The figures depend on the machine: say how loaded it was beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select
from standardwebhooks.webhooks import Webhook

from models.db import Database
from models.outbox import envelope, new_msg_id
from models.settings import DatabaseSettings
from models.tables import Document, WebhookEvent
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.mistral_server import MistralServer
from worker.webhooks.settings import WebhookSettings
from worker.webhooks.subscriptions import add_subscription

KEY = "sk-bench-webhooks"


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[str, tuple[float, dict]] = {}  # type: ignore[type-arg]
        self.total = 0
        self.bad = 0


@contextmanager
def receiver(latency_s: float) -> Iterator[tuple[str, Arrivals, list[str]]]:
    arrivals, secrets = Arrivals(), []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections kept alive, as a real receiver's are

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            at = time.time()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(secrets[0]).verify(body, headers)
                ok = True
            except Exception:
                ok = False
            time.sleep(latency_s)
            with arrivals.lock:
                arrivals.total += 1
                if not ok:
                    arrivals.bad += 1
                else:
                    arrivals.first.setdefault(headers["webhook-id"], (at, json.loads(body)))
            self.send_response(200 if ok else 401)
            self.send_header("content-length", "0")
            self.end_headers()

    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals, secrets
    finally:
        server.shutdown()
        server.server_close()


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_") or k.startswith("PAGEMILL_WEBHOOK_")}
    env.update({"PYTHONPATH": str(ROOT), "PAGEMILL_DATA_DIR": str(data), "PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "1",
                "PAGEMILL_WEBHOOK_POLL_S": "0.2", **extra})
    return env


def deliver_part(events: int, latency_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, receiver(latency_s) as (url, arrivals, secrets):
        data = Path(tmp)
        db = Database.from_settings(DatabaseSettings(data_dir=data))
        db.migrate()
        _sid, secret = add_subscription(db, url, settings=WebhookSettings(allow_private=True))
        secrets.append(secret)
        now = datetime.now(UTC)
        with db.write_session() as s:
            s.execute(insert(WebhookEvent), [
                {"msg_id": new_msg_id(), "type": "document.done", "subject": f"document:{i}", "document_id": i,
                 "payload": envelope("document.done", {"id": i, "filename": f"d{i}.pdf"}, now), "fanned_out": False,
                 "created_at": now} for i in range(1, events + 1)])
        db.dispose()
        start = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "webhooks", "deliver", "--follow"],
                                env=_env(data), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = start + max(120.0, events * latency_s)
        try:
            while len(arrivals.first) < events and time.time() < deadline:
                time.sleep(0.2)
        finally:
            proc.terminate()
            _pid, _status, usage = os.wait4(proc.pid, 0)  # the deliverer's own CPU, start-up included
        cpu_ms = 1000 * (usage.ru_utime + usage.ru_stime)
        got = len(arrivals.first)
        last = max((at for at, _ in arrivals.first.values()), default=start)
        print(f"deliver: {got}/{events} events in {last - start:.1f} s from the deliverer's start "
              f"(its start-up included): {got / max(last - start, 1e-9):.0f} events/s; receiver latency "
              f"{latency_s * 1000:.0f} ms, concurrency {WebhookSettings().concurrency}; "
              f"{arrivals.total - got} requests beyond one per event, {arrivals.bad} unverified; the deliverer's "
              f"CPU {cpu_ms / max(got, 1):.2f} ms per event")


def _pdfs(folder: Path, docs: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(docs):
        make_born_digital_pdf(folder / f"doc{i:04d}.pdf", [page_text(2 * i), page_text(2 * i + 1)])
    return folder


def pipeline_run(pdfs: Path, docs: int, subscribed: bool, latency_s: float, server_url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, receiver(latency_s) as (url, arrivals, secrets):
        data = Path(tmp)
        db = Database.from_settings(DatabaseSettings(data_dir=data))
        db.migrate()
        if subscribed:
            _sid, secret = add_subscription(db, url, settings=WebhookSettings(allow_private=True))
            secrets.append(secret)
        env = _env(data, PAGEMILL_PROVIDER="mistral", MISTRAL_API_KEY=KEY, PAGEMILL_OCR_BASE_URL=server_url,
                   PAGEMILL_RATE_LIMIT="1000", PAGEMILL_DIRECT_MAX_PAGES="0")
        t0 = time.time()
        out = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", str(pdfs)], env=env,
                             capture_output=True, text=True, timeout=1800)
        wall = time.time() - t0
        if out.returncode != 0:
            raise SystemExit(f"run failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
        with db.read_session() as s:
            finished = {doc_id: (at.replace(tzinfo=at.tzinfo or UTC)).timestamp()
                        for doc_id, at in s.execute(select(Document.id, Document.finished_at))}
        db.dispose()
        result = {"pages_s": 2 * docs / wall, "wall_s": wall}
        if subscribed:
            delays = sorted(at - finished[body["data"]["id"]] for at, body in arrivals.first.values()
                            if body["type"] == "document.done")
            result.update(delivered=len(delays), p50=statistics.median(delays),
                          p95=delays[int(0.95 * (len(delays) - 1))], max=delays[-1])
        return result


def pipeline_part(docs: int, rounds: int, latency_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, MistralServer(api_key=KEY) as server:
        pdfs = _pdfs(Path(tmp) / "pdfs", docs)
        for r in range(rounds):
            for subscribed in ((False, True) if r % 2 == 0 else (True, False)):
                res = pipeline_run(pdfs, docs, subscribed, latency_s, server.url)
                line = f"round {r + 1} {'subscribed' if subscribed else 'no webhooks':<12} " \
                       f"{res['pages_s']:6.1f} pages/s ({2 * docs} pages in {res['wall_s']:.1f} s)"
                if subscribed:
                    line += (f"; document.done {res['delivered']:.0f}/{docs}, delay p50 {res['p50']:.2f} s, "
                             f"p95 {res['p95']:.2f} s, max {res['max']:.2f} s")
                print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["deliver", "pipeline", "both"], default="both")
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.05, help="the receiver's answer time (s)")
    ap.add_argument("--docs", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    if args.part in ("deliver", "both"):
        deliver_part(args.events, args.latency)
    if args.part in ("pipeline", "both"):
        pipeline_part(args.docs, args.rounds, args.latency)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
