"""The scaffolding the fake API servers share: a threaded HTTP server on 127.0.0.1 (a free port), scripted
faults and a record of every request. A fake subclasses `LoopbackServer` and implements `respond`:

    class EchoServer(LoopbackServer):
        def respond(self, path, raw, headers):
            return 200, {"path": path}, {}

    with EchoServer() as server:
        server.inject(Fault(503))          # the next request gets a 503
        httpx.post(server.url + "/x")
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar

__all__ = ["ERROR_BODIES", "Fault", "LoopbackServer", "Answer"]

# the error-body shapes Mistral-compatible servers answer with (worker/http_api.py reads each)
ERROR_BODIES = {
    "documented": lambda msg: {"object": "error", "message": msg, "type": "invalid_request_error",
                               "param": None, "code": "3740"},
    "fastapi": lambda msg: {"detail": [{"type": "value_error", "loc": ["body", "document"], "msg": msg,
                                        "input": None}]},
    "fastapi_str": lambda msg: {"detail": msg},
    "bare": lambda msg: {"message": msg, "request_id": "req-123"},
}

Answer = tuple[int, Any, dict[str, str]]  # status, payload (dict -> JSON, bytes -> raw), extra headers


@dataclass
class Fault:
    """One scripted answer: `status` with `body` (dict -> JSON, bytes -> raw) after `delay_s`."""

    status: int = 500
    body: dict[str, Any] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production HTTP servers set it: the headers and the body go out in two writes, and with
    # Nagle's algorithm the body waited for the client's delayed ACK of the headers, 40 ms on Linux, so every
    # answer of this "instant" server took ~44 ms
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(*self.server.owner.respond(self.path, raw, dict(self.headers)))

    def do_GET(self) -> None:
        self._answer(*self.server.owner.respond_get(self.path, dict(self.headers)))

    def _answer(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # load tests open many connections at once
    owner: LoopbackServer[Any]


class _Record(Protocol):
    status: int


R = TypeVar("R", bound=_Record)


class LoopbackServer(Generic[R]):
    """Start/stop (or `with`), `url`, `inject(*faults)`, `received` (records of type R, appended by the
    subclass with `_record`). Subclasses take `_next_fault()` when they decide an answer."""

    def __init__(self) -> None:
        self.received: list[R] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        raise NotImplementedError

    def respond_get(self, path: str, headers: dict[str, str]) -> Answer:
        return 405, {"detail": "Method Not Allowed"}, {}

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        """The next len(faults) requests get these answers, in order."""
        with self._lock:
            self._faults.extend(faults)

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.received]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, record: R) -> None:
        with self._lock:
            self.received.append(record)
