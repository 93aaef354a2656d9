"""Reading Prometheus metrics over HTTP, as Prometheus would: for the metrics and topology tests."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["free_port", "scrape", "sample"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
    """{(sample name, labels): value} from http://127.0.0.1:PORT/metrics, or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float] | None, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels` (0 when there is none)."""
    if not metrics:
        return 0.0
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= ls)
