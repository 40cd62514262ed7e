"""Sender addresses: the client behind trusted proxies, and a source's allowlist.

``X-Forwarded-For`` is believed only when the connecting peer is a trusted proxy, and then only from the
right: each trusted hop appends the address it saw, so the first untrusted address from the right is the
client. An entry that is not an address (garbage, an ``unknown`` placeholder) ends the walk with no answer,
which an allowlist treats as not allowed. Pass all ``X-Forwarded-For`` header lines joined with ``,``.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from worker.config import Network, SourceConfig
from worker.errors import Forbidden

IPAddress = IPv4Address | IPv6Address

# Longer than any written address with a port and an IPv6 zone; longer input is garbage, not worth parsing.
_MAX_ADDRESS_LENGTH = 64
# More proxies than any real chain: hops past these are never examined.
MAX_FORWARDED_HOPS = 32


def parse_address(text: str) -> IPAddress | None:
    """An IP address from ``1.2.3.4``, ``1.2.3.4:80``, ``::1`` or ``[::1]:80``; IPv4-mapped IPv6 as IPv4."""
    text = text.strip()
    if not text or len(text) > _MAX_ADDRESS_LENGTH:
        return None
    if text.startswith("["):
        text, bracket, _ = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; allowlists are written with a.b.c.d.
        return address.ipv4_mapped
    return address


def _inside(address: IPAddress, networks: Sequence[Network]) -> bool:
    # ``in`` is False, not an error, across IP versions.
    return any(address in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> IPAddress | None:
    """The sender's address: the peer, or the first untrusted X-Forwarded-For hop from the right."""
    address = parse_address(peer) if peer else None
    if address is None or not forwarded_for or not _inside(address, trusted_proxies):
        return address
    # Only the last hops are read: each trusted proxy adds one, and a sender can prepend any number (100k
    # entries once took 0.8 s of the event loop). rsplit with a limit never splits the untrusted rest.
    entries = forwarded_for.rsplit(",", MAX_FORWARDED_HOPS)
    for entry in reversed(entries[-MAX_FORWARDED_HOPS:]):
        hop = parse_address(entry)
        if hop is None:
            return None
        address = hop
        if not _inside(hop, trusted_proxies):
            return hop
    # Every hop read was a trusted proxy: the leftmost is the furthest one known, unless hops were left unread.
    return address if len(entries) <= MAX_FORWARDED_HOPS else None


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str | None:
    """``client_ip`` as text (for logs and event records), None when it cannot be told."""
    address = client_ip(peer, forwarded_for, trusted_proxies)
    return None if address is None else str(address)


def check_allowed(config: SourceConfig, peer: str | None, forwarded_for: str | None) -> None:
    """Raise ``Forbidden`` when the source has an allowlist and the sender is not inside it."""
    if not config.allow:
        return
    address = client_ip(peer, forwarded_for, config.trusted_proxies)
    if address is None or not _inside(address, config.allow):
        raise Forbidden("sender address not allowed")
