"""Sender addresses: X-Forwarded-For behind trusted proxies, allowlists, IPv4 and IPv6, garbage."""

from __future__ import annotations

import contextlib
from ipaddress import ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks.network import check_allowed, client_address, parse_address
from worker.config import Network, SourceConfig
from worker.errors import Forbidden

PROXIES: list[Network] = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:4711", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("", None),
        ("unknown", None),
        ("_hidden", None),
        ("300.1.1.1", None),
        ("[2001:db8::1", None),
        ("1.2.3.4.5", None),
        ("1" * 100, None),
        ("192.0.2.1; drop table", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # no proxy in front: the peer, and a forged header is ignored
        ("192.0.2.7", None, "192.0.2.7"),
        ("192.0.2.7", "10.1.1.1", "192.0.2.7"),
        ("2001:db8::7", "10.1.1.1", "2001:db8::7"),
        # behind trusted proxies: the first untrusted hop from the right
        ("10.0.0.1", "192.0.2.7", "192.0.2.7"),
        ("10.0.0.1", "198.51.100.9, 192.0.2.7", "192.0.2.7"),
        ("10.0.0.1", "198.51.100.9, 192.0.2.7, 10.0.0.2", "192.0.2.7"),
        ("10.0.0.1", "198.51.100.9,192.0.2.7,10.0.0.2,10.0.0.3", "192.0.2.7"),
        ("fd00::1", "2001:db8::7, fd00::2", "2001:db8::7"),
        ("fd00::1", "192.0.2.7", "192.0.2.7"),
        ("10.0.0.1", "[2001:db8::7]:5000", "2001:db8::7"),
        ("::ffff:10.0.0.1", "192.0.2.7", "192.0.2.7"),
        # the proxy added no header, or an empty one: the proxy itself
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
        # every hop trusted: the leftmost one known
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),
        # garbage written where a trusted hop should have put an address: unknown
        ("10.0.0.1", "192.0.2.7, garbage", None),
        ("10.0.0.1", "192.0.2.7,", None),
        ("10.0.0.1", "unknown", None),
        # garbage to the left of the client is never read
        ("10.0.0.1", "garbage, 192.0.2.7", "192.0.2.7"),
        # no usable peer
        (None, "192.0.2.7", None),
        ("testclient", "192.0.2.7", None),
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, expected: str | None) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("10.0.0.1", "192.0.2.7", []) == "10.0.0.1"


ALLOW_V4 = SourceConfig(kind="none", allow=["192.0.2.0/24"], trusted_proxies=["10.0.0.0/8"])
ALLOW_V6 = SourceConfig(kind="none", allow=["2001:db8::/32", "198.51.100.7/32"], trusted_proxies=["fd00::/8"])
OPEN = SourceConfig(kind="github", secret="s")


@pytest.mark.parametrize(
    ("config", "peer", "forwarded_for"),
    [
        (ALLOW_V4, "192.0.2.7", None),
        (ALLOW_V4, "192.0.2.7", "203.0.113.1"),
        (ALLOW_V4, "::ffff:192.0.2.7", None),
        (ALLOW_V4, "10.0.0.1", "203.0.113.1, 192.0.2.7"),
        (ALLOW_V6, "2001:db8::7", None),
        (ALLOW_V6, "fd00::1", "2001:db8:1::7"),
        (ALLOW_V6, "198.51.100.7", None),
        (OPEN, None, "garbage"),
        (OPEN, "not an address", None),
    ],
)
def test_allowed(config: SourceConfig, peer: str | None, forwarded_for: str | None) -> None:
    check_allowed(config, peer, forwarded_for)


@pytest.mark.parametrize(
    ("config", "peer", "forwarded_for"),
    [
        (ALLOW_V4, "203.0.113.1", None),
        (ALLOW_V4, "203.0.113.1", "192.0.2.7"),  # forged by an untrusted peer
        (ALLOW_V4, "10.0.0.1", "192.0.2.7, 203.0.113.1"),
        (ALLOW_V4, "10.0.0.1", None),
        (ALLOW_V4, "10.0.0.1", "192.0.2.7, ???"),
        (ALLOW_V4, "10.0.0.1", "\x00\xff" * 50),
        (ALLOW_V4, None, None),
        (ALLOW_V4, "testclient", None),
        (ALLOW_V4, "2001:db8::7", None),
        (ALLOW_V6, "2001:db9::7", None),
        (ALLOW_V6, "198.51.100.8", None),
        (ALLOW_V6, "fd00::1", "2001:db8::7, not-an-ip"),
    ],
)
def test_not_allowed(config: SourceConfig, peer: str | None, forwarded_for: str | None) -> None:
    with pytest.raises(Forbidden) as caught:
        check_allowed(config, peer, forwarded_for)
    assert caught.value.reason == "sender address not allowed"
    assert caught.value.status_code == 403


@given(st.one_of(st.none(), st.text(max_size=60)), st.one_of(st.none(), st.text(max_size=200)))
def test_garbage_never_raises_anything_but_forbidden(peer: str | None, forwarded_for: str | None) -> None:
    client_address(peer, forwarded_for, PROXIES)
    with contextlib.suppress(Forbidden):
        check_allowed(ALLOW_V4, peer, forwarded_for)


@given(
    st.lists(st.ip_addresses(), min_size=1, max_size=6).map(lambda hops: ", ".join(str(hop) for hop in hops)),
    st.ip_addresses(network="10.0.0.0/8"),
)
def test_random_chains_resolve_to_an_address_from_the_chain(forwarded_for: str, proxy: object) -> None:
    address = client_address(str(proxy), forwarded_for, PROXIES)
    assert address is not None
    chain = [str(parse_address(hop)) for hop in forwarded_for.split(",")]
    assert address in chain
