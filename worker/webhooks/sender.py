"""Sending one signed request: the `Sender` interface and the HTTP sender.

The HTTP sender goes to the address `target.py` resolved (once), follows no redirect (a 3xx is a failure, retried
like a 5xx), has connect and read time-outs and an overall deadline, and reads at most MAX_RESPONSE_BYTES of an
answer: a receiver cannot make pagemill download or store a large body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from .settings import WebhookSettings
from .target import TargetRefused, resolve_target

__all__ = ["MAX_RESPONSE_BYTES", "HttpSender", "SendResult", "Sender"]

MAX_RESPONSE_BYTES = 4096


@dataclass
class SendResult:
    status_code: int | None = None  # None: no answer (refused, time-out, connection error)
    retry_after_s: float | None = None
    error: str | None = None  # readable, never holds a secret
    excerpt: str = ""  # the start of the answer's body, at most MAX_RESPONSE_BYTES
    refused: bool = False  # the target itself is refused: retrying cannot help

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender(Protocol):
    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult: ...

    def close(self) -> None: ...


class HttpSender:
    def __init__(self, settings: WebhookSettings | None = None) -> None:
        # httpx loads with the first sender, not with this module: a run without subscriptions asks the outbox
        # whether there is work and must not pay for an HTTP client (tests/e2e/test_direct_run.py checks it)
        import httpx

        from ..http_api import parse_retry_after  # (the HTTP plumbing imports httpx too)

        self._httpx = httpx
        self._retry_after = parse_retry_after
        self.settings = settings or WebhookSettings()
        s = self.settings
        self.client = httpx.Client(
            follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
            # a kept-alive connection for each request that may be under way at once (PAGEMILL_WEBHOOK_CONCURRENCY)
            limits=httpx.Limits(max_connections=s.concurrency + 4, max_keepalive_connections=s.concurrency),
        )

    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            target = resolve_target(url, self.settings.allow_private)
        except TargetRefused as err:
            return SendResult(error=err.message, refused=True)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        deadline = time.monotonic() + self.settings.connect_timeout_s + self.settings.timeout_s
        try:
            with self.client.stream("POST", target.pinned_url, content=body,
                                    headers={**headers, "host": target.host_header}, extensions=extensions) as r:
                chunks, size = [], 0
                for chunk in r.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break
                excerpt = b"".join(chunks)[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
                result = SendResult(status_code=r.status_code, retry_after_s=self._retry_after(r.headers),
                                    excerpt=excerpt)
                if 300 <= r.status_code < 400:
                    result.error = f"HTTP {r.status_code}: a redirect (to {r.headers.get('location', '?')[:200]}) " \
                                   "is not followed"
                elif not result.delivered:
                    result.error = f"HTTP {r.status_code}: {excerpt[:200].strip()}".rstrip(": ")
                return result
        except self._httpx.TimeoutException as exc:
            return SendResult(error=f"timed out ({type(exc).__name__})")
        except self._httpx.HTTPError as exc:
            return SendResult(error=f"could not connect: {type(exc).__name__}: {str(exc)[:200]}")

    def close(self) -> None:
        self.client.close()
