"""Addresses and port ranges as an auditor reads them (findings, exports, the report)."""

from __future__ import annotations

import ipaddress

from agent.review.model import IPV4_ANY, PORT_ANY, AddressSet, Range, Service


def address_text(ranges: tuple[Range, ...], limit: int = 8) -> str:
    """'any', '10.0.0.0/24, 10.0.1.5', ... as the fewest CIDRs; long lists are cut."""
    if tuple(ranges) == IPV4_ANY:
        return "any"
    if not ranges:
        return "none"
    parts: list[str] = []
    for lo, hi in ranges:
        for net in ipaddress.summarize_address_range(
            ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)
        ):
            parts.append(str(net.network_address) if net.prefixlen == 32 else str(net))
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", ... ({len(parts)} in all)"
    return ", ".join(parts)


def address_set_text(addresses: AddressSet) -> str:
    text = address_text(addresses.ranges)
    return f"not {text}" if addresses.negated else text


def ranges_text(ranges: tuple[Range, ...]) -> str:
    if tuple(ranges) == PORT_ANY or not ranges:
        return "any"
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def services_text(services: tuple[Service, ...]) -> str:
    out = []
    for s in services:
        ports = "" if tuple(s.ports) == PORT_ANY else "/" + ranges_text(s.ports)
        out.append(f"{s.protocol}{ports}")
    return " ".join(out)
