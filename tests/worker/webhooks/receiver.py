"""A webhook receiver on 127.0.0.1 for tests: it verifies every request's signature with the `standardwebhooks`
library (a client no one here wrote) and records what arrived; `behave` decides each answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook

__all__ = ["Arrival", "Receiver", "receiver"]


@dataclass
class Arrival:
    msg_id: str
    type: str
    data: dict[str, Any]
    verified: bool
    answered: int
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # when it arrived (wall clock, comparable with the database's)


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    # (request number from 0, msg_id) -> (status, headers, delay_s)
    behave: Callable[[int, str], tuple[int, dict[str, str], float]] = lambda n, msg: (200, {}, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Arrival]:
        return [a for a in self.arrivals if 200 <= a.answered < 300]

    def delivered_ids(self) -> list[str]:
        return [a.msg_id for a in self.delivered()]


@contextmanager
def receiver(secrets: list[str] | None = None) -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = False
            for secret in rec.secrets:
                try:
                    Webhook(secret).verify(body, headers)
                    verified = True
                    break
                except Exception:
                    continue
            payload = json.loads(body)
            with rec.lock:
                n = len(rec.arrivals)
                status, extra, delay = rec.behave(n, headers.get("webhook-id", ""))
                rec.arrivals.append(Arrival(headers.get("webhook-id", ""), payload.get("type", ""),
                                            payload.get("data", {}), verified, status if verified else 401, headers))
            if delay:
                time.sleep(delay)
            if not verified:
                status = 401
            try:
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    rec.secrets = list(secrets or [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
