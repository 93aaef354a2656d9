"""Reading Prometheus metrics over HTTP, as Prometheus would: for the metrics and topology tests."""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "free_port", "scrape", "sample"]

# the sample names a family of each type exports besides its own name
_SUFFIXES = ("", "_total", "_count", "_sum", "_bucket", "_created", "_gcount", "_gsum")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Scrape:
    """One scrape: {(sample name, labels): value}, and the metric families the endpoint declared.

    A labelled counter that has not counted yet exports its `# TYPE` line and no sample, so a family can be
    declared with nothing in `samples`; a family that is not declared at all is not exported.
    """

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)
    families: set[str] = field(default_factory=set)

    def declares(self, sample_name: str) -> bool:
        return any(sample_name == f + suffix for f in self.families for suffix in _SUFFIXES)


def scrape(port: int) -> Scrape | None:
    """What http://127.0.0.1:PORT/metrics serves, or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out = Scrape()
    for family in text_string_to_metric_families(text):
        out.families.add(family.name)
        for s in family.samples:
            out.samples[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(metrics: Scrape | None, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`.

    0 when the metric is exported but has no such sample yet; an AssertionError when nothing was scraped or
    the endpoint does not export the metric at all, so `== 0` cannot pass for a metric that went missing.
    """
    assert metrics is not None, "nothing was scraped: the metrics endpoint did not answer"
    assert metrics.declares(name), f"{name} is not exported (families: {sorted(metrics.families)})"
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.samples.items() if n == name and want <= ls)
