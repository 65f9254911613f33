"""IP address reduction."""

from __future__ import annotations

import ipaddress


def truncate_ip(address: str | None) -> str | None:
    """Return the /24 (IPv4) or /48 (IPv6) network of ``address`` as CIDR text.

    IPv4-mapped IPv6 addresses are treated as IPv4. Unparseable input gives None.
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def parse_ip(address: str | None) -> str | None:
    """Canonical text of a valid IP address, or None."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)
