"""Who may read the operator's endpoints (SPEC §14). Part of the one authorization module
(`devices.access`)."""

from __future__ import annotations

import functools
import hmac
import ipaddress

from django.conf import settings

# --- operations ----------------------------------------------------------------------------------


def metrics_readable(*, authorization: str, address: str) -> bool:
    """Whether a request may read `/metrics` (SPEC §14): it carries `Authorization: Bearer
    PLUGBOARD_METRICS_TOKEN`, or comes from an address in PLUGBOARD_METRICS_NETWORKS (the
    client's own, behind a trusted load balancer). With neither configured, nobody may."""
    token = settings.PLUGBOARD_METRICS_TOKEN
    scheme, _, given = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    networks = _metrics_networks(tuple(settings.PLUGBOARD_METRICS_NETWORKS))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # a dual-stack listener's
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


@functools.cache
def _metrics_networks(
    configured: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in configured)
