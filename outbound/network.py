"""Outbound targets are the account's, not the platform's (SPEC §13): a URL or broker whose host
resolves to a loopback, private, link-local or otherwise non-global address is refused, unless
the operator allows that network (`PLUGBOARD_OUTBOUND_ALLOW_NETWORKS`).

Checked twice: when a target is saved (a 400 for the account) and right before every connection
(DNS may have changed since), on the addresses the connection will use. Every outbound caller
(data connectors, notifications) goes through `target_resolve`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import cache
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883, "amqp": 5672, "amqps": 5671}


class TargetRefused(ValueError):
    """The target may not be reached; the message says why, for the account (a 400, a last error)."""


@dataclass(frozen=True)
class Target:
    """A checked target: its URL's parts and the addresses it resolved to (all allowed)."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


@cache
def _allowed(networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def address_allowed(address: str) -> bool:
    """Whether an outbound connection may go to `address`: a global one, or one inside an
    allowed network."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped IPv6's zone dropped
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever the IPv6 rules say
    if any(ip in network for network in _allowed(tuple(settings.PLUGBOARD_OUTBOUND_ALLOW_NETWORKS))):
        return True
    return ip.is_global and not ip.is_multicast


def target_resolve(url: str, *, schemes: tuple[str, ...]) -> Target:
    """Parse `url`, resolve its host and check every address it resolves to; raise
    `TargetRefused` for a scheme not in `schemes`, a host that does not resolve or an address
    that is not allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        raise TargetRefused(f"the URL's scheme must be one of {', '.join(schemes)}")
    host = parts.hostname or ""
    if not host:
        raise TargetRefused("the URL has no host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"host {host} does not resolve ({exc})") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not address_allowed(a)]
    if refused or not addresses:
        raise TargetRefused(
            f"host {host} resolves to {', '.join(refused) or 'nothing'}: a loopback, private, link-local "
            "or otherwise non-public address, which outbound targets may not use unless the operator "
            "allows its network (PLUGBOARD_OUTBOUND_ALLOW_NETWORKS)"
        )
    return Target(url=parts, host=host, port=port, addresses=addresses)
