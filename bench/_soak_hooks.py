"""The soak's webhook receiver: a loopback HTTP server subscribed through PAGEMILL_WEBHOOK_URL that verifies each
event's signature (Standard Webhooks, the `standardwebhooks` package) and records it; the `receiver_away` fault
makes it drop every request without an answer (a receiver gone) for a while. At the end each finished document
must have had its `document.<status>` event delivered at least once."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

__all__ = ["HookReceiver"]


class HookReceiver:
    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.away = False
        self.lock = threading.Lock()
        self.events: dict[str, dict] = {}  # webhook-id -> body (deliveries of one event share its id)
        self.deliveries = 0
        self.bad_signatures = 0
        self.dropped = 0
        receiver = self
        verifier = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.away:  # gone: the connection closes without an answer
                    with receiver.lock:
                        receiver.dropped += 1
                    self.close_connection = True
                    return
                try:
                    event = verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.deliveries += 1
                    receiver.events[self.headers.get("webhook-id", "")] = event
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pagemill"
        self.thread = threading.Thread(target=self.server.serve_forever, name="hooks", daemon=True)

    def start(self) -> HookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def finished(self) -> dict[int, set[str]]:
        """document id -> the document.* event types received for it."""
        out: dict[int, set[str]] = {}
        with self.lock:
            for event in self.events.values():
                kind = str(event.get("type", ""))
                if kind.startswith("document."):
                    out.setdefault(int(event["data"]["id"]), set()).add(kind)
        return out

    def kinds(self) -> Counter[str]:
        with self.lock:
            return Counter(str(e.get("type", "")) for e in self.events.values())

    def dump(self) -> str:
        with self.lock:
            return json.dumps(list(self.events.values()))
