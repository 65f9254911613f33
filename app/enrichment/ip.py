"""IP address reduction."""

from __future__ import annotations

import ipaddress


def _address(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The parsed address, IPv4-mapped IPv6 treated as IPv4; None when not an address."""
    address = (address or "").strip()
    # Every IPv4 address ends in a digit and every IPv6 one has a colon: host names (the
    # usual input on the collect path) are told apart without the costly parse.
    if not address or (":" not in address and not address[-1].isdigit()):
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def truncate_ip(address: str | None) -> str | None:
    """Return the /24 (IPv4) or /48 (IPv6) network of ``address`` as CIDR text."""
    ip = _address(address)
    if ip is None:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def parse_ip(address: str | None) -> str | None:
    """Canonical text of a valid IP address, or None."""
    ip = _address(address)
    return None if ip is None else str(ip)
