"""The operator's allow-list of MCP servers: patterns, and the addresses a server may resolve to."""

import ipaddress

import pytest

from shared.config import McpPolicy
from shared.domain import mcp_urls


def _allowed(url: str, *patterns: str) -> bool:
    return mcp_urls.allowed(mcp_urls.target(url), [mcp_urls.pattern(p) for p in patterns])


@pytest.mark.parametrize(
    ("url", "pattern", "allowed"),
    [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp", True),
        ("https://mcp.example.com/mcp/v2", "https://mcp.example.com/mcp", True),
        ("https://mcp.example.com/mcpx", "https://mcp.example.com/mcp", False),
        ("https://MCP.example.com:443/mcp", "https://mcp.example.com", True),
        ("http://mcp.example.com/mcp", "https://mcp.example.com", False),  # scheme
        ("https://mcp.example.com:8443/mcp", "https://mcp.example.com", False),  # port
        ("https://mcp.example.com:8443/mcp", "https://mcp.example.com:*", True),
        ("https://a.example.com/x", "https://*.example.com", True),
        ("https://example.com/x", "https://*.example.com", False),
        ("https://a.example.com.evil.net/x", "https://*.example.com", False),
        ("https://evilexample.com/x", "https://*.example.com", False),
        ("http://127.0.0.1:8123/mcp", "http://127.0.0.1:*/mcp", True),
    ],
)
def test_a_url_is_allowed_only_by_a_pattern_it_matches(url, pattern, allowed):
    assert _allowed(url, pattern) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "ftp://mcp.example.com/",
        "https:///mcp",
        "https://user:pw@mcp.example.com/",
        "not a url",
        "https://x:99999/",
    ],
)
def test_a_url_the_gateway_cannot_use_is_refused(url):
    with pytest.raises(mcp_urls.BadUrl):
        mcp_urls.target(url)


@pytest.mark.parametrize("text", ["https://mcp.*.com", "https://mcp.example.com/*/x", "gopher://x"])
def test_a_pattern_the_gateway_cannot_read_stops_it(text):
    with pytest.raises(ValueError, match="mcp"):
        McpPolicy(allowed_servers=[text])


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # a cloud's metadata service
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("224.0.0.1", True),
    ],
)
def test_only_public_addresses_are_reached_by_default(address, refused):
    assert mcp_urls.refused_address(ipaddress.ip_address(address), []) is refused


def test_a_network_the_operator_allowed_is_reached():
    networks = McpPolicy(allowed_networks=["127.0.0.0/8", "10.0.0.0/8"]).networks()
    assert not mcp_urls.refused_address(ipaddress.ip_address("127.0.0.1"), networks)
    assert not mcp_urls.refused_address(ipaddress.ip_address("::ffff:10.0.0.7"), networks)
    assert mcp_urls.refused_address(ipaddress.ip_address("192.168.1.1"), networks)
