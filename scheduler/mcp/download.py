"""A document an assistant names by URL, fetched for `submit`: http(s) only, every hop's host resolved once and
checked like a webhook target (worker/webhooks/target.py: loopback, private, link-local and metadata addresses
refused unless allowed), at most MAX_REDIRECTS redirects (each checked again), a size limit enforced while
reading, one deadline for the whole download, and the bytes' own type sniffed (a PDF or an image, whatever
the server's Content-Type says).

    path = download("https://example.org/report.pdf", folder, DownloadLimits())   # folder/report.pdf
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

from models.errors import ConfigError, InputError, OversizedInput, UnsupportedFormat
from worker.documents.mime import sniff_mime
from worker.webhooks.target import TargetRefused, display_url, resolve_target

if TYPE_CHECKING:
    import httpx

__all__ = ["DownloadLimits", "download", "is_url", "MAX_REDIRECTS"]

MAX_REDIRECTS = 5
_EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
               "image/bmp": ".bmp", "image/gif": ".gif", "image/webp": ".webp"}
_SAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


@dataclass(frozen=True)
class DownloadLimits:
    max_mb: int = 200
    timeout_s: float = 120.0
    allow_private: bool = False  # loopback and private addresses (tests, an intranet server)


def is_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))


def _filename(url: str, disposition: str | None, mime: str) -> str:
    """The name the document is registered under: the server's attachment name, else the URL's last segment;
    reduced to safe characters, with the extension of what the bytes are."""
    name = ""
    if disposition:
        found = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition, re.IGNORECASE)
        name = unquote(found.group(1)) if found else ""
    name = Path(name or unquote(urlsplit(url).path)).name
    stem = _SAFE_NAME.sub("_", Path(name).stem).strip(" ._")[:120] or "download"
    return stem + _EXTENSIONS[mime]


def _refusal(err: TargetRefused, allow_hint: str) -> ConfigError:
    # the webhook check's own advice names the webhook setting; this server has its own switch
    reason = err.message.split(" (set PAGEMILL_", 1)[0]
    return ConfigError(f"{reason}; {allow_hint}" if "refused" in reason else reason)


def download(url: str, folder: Path, limits: DownloadLimits,
             allow_hint: str = "start the server with --allow-private-urls to fetch from internal hosts") -> Path:
    """The document at `url`, saved in `folder` (created). Raises ConfigError (a refused URL), InputError (the
    server's answer: an HTTP error, a time-out, not a PDF or an image) or OversizedInput."""
    import httpx

    max_bytes = limits.max_mb * 1024 * 1024
    deadline = time.monotonic() + limits.timeout_s
    timeout = httpx.Timeout(limits.timeout_s, connect=min(10.0, limits.timeout_s))
    with httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = resolve_target(current, limits.allow_private)
            except TargetRefused as err:
                raise _refusal(err, allow_hint) from None
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            try:
                with client.stream("GET", target.pinned_url, headers={"host": target.host_header},
                                   extensions=extensions) as response:
                    if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    return _save(response, current, folder, max_bytes, deadline)
            except httpx.TimeoutException:
                raise InputError(f"{display_url(url)} did not answer within {limits.timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise InputError(f"{display_url(url)} could not be fetched: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
    raise InputError(f"{display_url(url)} redirects more than {MAX_REDIRECTS} times")


def _save(response: httpx.Response, url: str, folder: Path, max_bytes: int, deadline: float) -> Path:
    shown = display_url(url)
    if response.status_code != 200:
        raise InputError(f"{shown} answered HTTP {response.status_code}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OversizedInput(f"{shown} is {int(declared) / 2**20:.1f} MB, over the {max_bytes // 2**20} MB limit")
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / "download.part"
    size, head = 0, b""
    with part.open("wb") as fh:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise OversizedInput(f"{shown} is over the {max_bytes // 2**20} MB limit")
            if time.monotonic() > deadline:
                raise InputError(f"{shown} took too long to download")
            if len(head) < 1024:
                head += chunk[:1024 - len(head)]
            fh.write(chunk)
    mime = sniff_mime(head)
    if mime is None:
        kind = response.headers.get("content-type", "no Content-Type").split(";")[0]
        raise UnsupportedFormat(f"{shown} is not a PDF or an image (the server calls it {kind})")
    path = folder / _filename(url, response.headers.get("content-disposition"), mime)
    part.replace(path)
    return path
