"""Who is asking: the client's address (behind a trusted proxy: the forwarded one) as a keyed
hash. The address itself is never stored or logged."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from contextvars import ContextVar

# The keyed hash of the web chat client taking the current turn, for the outreach counts
# (gateway.outreach.service). Set by the web chat gate in the request's own thread; each
# request runs in a copied context, so it never leaks into another request.
# (hash, new conversations of it counted a day at most)
current_client: ContextVar[tuple[str, int] | None] = ContextVar("rightsline_current_client",
                                                               default=None)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def keyed_hash(key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 with the sender-hash key, separated by purpose (a client address and a
    conversation id never hash alike, nor like a phone number)."""
    return hmac.new(key.encode(), f"{purpose}\n{value}".encode(), hashlib.sha256).hexdigest()


def parse_networks(items: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address, proxies: Sequence[Network]) -> bool:  # noqa: ANN001
    return address is not None and any(address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None,
                   proxies: Sequence[Network]) -> str:
    """The connection's own address, unless it is a trusted proxy: then the right-most
    address of X-Forwarded-For that is not itself a trusted proxy (what a client writes into
    the header is to the left of what our proxies append, so it is never believed)."""
    peer_address = _address(peer or "")
    if not _trusted(peer_address, proxies) or not forwarded_for:
        return str(peer_address) if peer_address is not None else (peer or "unknown")
    for item in reversed(forwarded_for.split(",")):
        address = _address(item)
        if address is None:
            break  # garbage in the chain: stop at the last address we can vouch for
        if not _trusted(address, proxies):
            return str(address)
    return str(peer_address)
