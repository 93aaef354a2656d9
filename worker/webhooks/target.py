"""Safe targets: where a webhook may be sent.

http(s) only. The host is resolved once, here, and the request goes to that address (the Host header and TLS SNI
carry the name), so a name that resolves to a public address for the check cannot resolve to an internal one for
the request (DNS rebinding). Every address that is not globally routable is refused (loopback, private, link-local
including the 169.254.169.254 metadata service, carrier-grade NAT, multicast, reserved), and so is any name with
one such address among its answers, unless PAGEMILL_WEBHOOK_ALLOW_PRIVATE=1.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from models.errors import ConfigError

__all__ = ["ResolvedTarget", "TargetRefused", "check_url", "display_url", "resolve_target"]

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class TargetRefused(ConfigError):
    """A URL webhooks are never sent to; the message says why (and never holds a secret)."""


@dataclass(frozen=True)
class ResolvedTarget:
    url: str  # as given
    scheme: str
    host: str  # the name, for the Host header and SNI
    port: int
    address: str  # the address the request goes to

    @property
    def pinned_url(self) -> str:
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        return urlunsplit((parts.scheme, f"{host}:{self.port}", parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def display_url(url: str) -> str:
    """The URL without any user:password part, for lists and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, parts.query, ""))


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or TargetRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a usable URL: {display_url(url)!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"webhooks go to http:// or https:// URLs only, not {parts.scheme or 'no scheme'}: "
                            f"{display_url(url)!r}")
    if not parts.hostname:
        raise TargetRefused(f"the URL has no host: {display_url(url)!r}")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _refused(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in _METADATA:
        return "a cloud metadata address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_private:
        return "a private address"
    if not addr.is_global or addr.is_multicast:
        return "not a public address"
    return None


def resolve_target(url: str, allow_private: bool = False, port_override: int | None = None) -> ResolvedTarget:
    scheme, host, port = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not allow_private:
        for a in addresses:
            why = _refused(ipaddress.ip_address(a.split("%")[0]))
            if why is not None:
                raise TargetRefused(f"{host} resolves to {a}, {why}: refused (set PAGEMILL_WEBHOOK_ALLOW_PRIVATE=1 "
                                    "to send webhooks to internal targets)")
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port_override or port, address=addresses[0])
