"""Which MCP ``server_url``s the gateway may connect to: the operator's allow-list. Pure: the resolution
of a host to its addresses is the caller's (``shared/mcp_guard.py``).

A gateway that connects to any URL a client names is an SSRF hole: a client could reach the
gateway's own network (the NATS monitor, MongoDB, a cloud's metadata service). So a URL must match
one of the configured patterns, and every address its host resolves to must be public, unless it is
in one of the configured networks.

A pattern is a URL: its scheme must match, its host must match exactly or, written ``*.example.com``,
be a subdomain of ``example.com``; a port of ``*`` matches any port, else the URL's (explicit or
default) port must be the pattern's; the URL's path must start with the pattern's path, whole
segments only (``/mcp`` allows ``/mcp`` and ``/mcp/x``, not ``/mcpx``).
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = -1


class BadUrl(ValueError):
    """A URL (or pattern) the gateway cannot use; the message says why, for the client or operator."""


@dataclass(frozen=True)
class Target:
    """A server URL taken apart: what the pattern matches against, and the host to resolve."""

    scheme: str
    host: str
    port: int
    path: str


def target(url: str) -> Target:
    """``url`` as a ``Target``, or ``BadUrl``: only http(s), a host, and no credentials in the URL
    (they would be echoed in the Response; ``headers`` / ``authorization`` carry them instead)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadUrl(f"not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadUrl("the URL must be http or https")
    if not parts.hostname:
        raise BadUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("the URL must not hold credentials; send them in 'headers' or 'authorization'")
    host = parts.hostname.lower().rstrip(".")
    return Target(scheme, host, _DEFAULT_PORTS[scheme] if port is None else port, parts.path or "/")


@dataclass(frozen=True)
class Pattern:
    scheme: str
    host: str  # exact, or "*.suffix"
    port: int  # ANY_PORT: any
    path: str

    def matches(self, url: Target) -> bool:
        return (
            url.scheme == self.scheme
            and _host_matches(self.host, url.host)
            and self.port in (ANY_PORT, url.port)
            and _path_within(url.path, self.path)
        )


def pattern(text: str) -> Pattern:
    """A configured pattern, or ``BadUrl`` (the gateway must not start with one it cannot read)."""
    wildcard_port = ":*" in text.split("//", 1)[-1].split("/", 1)[0]
    parsed = target(text.replace(":*", "", 1) if wildcard_port else text)
    wildcard_host = parsed.host.startswith("*.")
    if "*" in (parsed.host[2:] if wildcard_host else parsed.host) or "*" in parsed.path:
        raise BadUrl(f"{text!r}: '*' may only begin the host ('*.example.com') or be the port")
    port = ANY_PORT if wildcard_port else parsed.port
    return Pattern(parsed.scheme, parsed.host, port, parsed.path)


def _host_matches(pattern_host: str, host: str) -> bool:
    if pattern_host.startswith("*."):
        return host.endswith(pattern_host[1:])
    return host == pattern_host


def _path_within(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def allowed(url: Target, patterns: list[Pattern]) -> bool:
    return any(p.matches(url) for p in patterns)


def ip(text: str) -> Address:
    """An address as a socket reports it (an IPv6 one may carry a ``%zone``)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def refused_address(address: Address, networks: list[Network]) -> bool:
    """An address the gateway must not connect to: anything not globally routable (private,
    loopback, link-local, the metadata service's 169.254.169.254, unique-local, multicast, ...),
    unless the operator allowed its network. An IPv4-mapped IPv6 address is judged as its IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in networks):
        return False
    return not address.is_global or address.is_multicast
