"""Where each address in scope is swept from, decided before any packet or stored run:
ARP on the interface the routing table says is on-link, nmap's ping sweep when a gateway is
on the way, nothing when there is no route (or the address is IPv6)."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from agent.core.errors import UsageError
from agent.core.scope import ScopeGuard
from agent.discovery.interfaces import (
    Interface,
    Route,
    local_interfaces,
    require_net_raw,
    routes,
)


@dataclass
class Plan:
    own: set[str]
    # ARP targets per interface as integers: a /16 is 65k of them, and address objects cost
    # ~40 ms to make only for the sweep to turn them back into integers.
    local: dict[str, tuple[Interface, list[int]]]
    routed: list[ipaddress.IPv4Address]
    unreachable: list


def plan(guard: ScopeGuard, iface: str | None = None) -> Plan:
    """Check the scope and privilege and split the scope, before any packet or stored run."""
    guard.check_sweepable()  # an IPv6 or fully excluded scope is an error, not "0 hosts"
    require_net_raw()
    interfaces = local_interfaces()
    local, routed, unreachable = plan_sweep(guard, interfaces, routes(), iface)
    return Plan({str(i.address) for i in interfaces}, local, routed, unreachable)


def plan_sweep(
    guard: ScopeGuard,
    interfaces: Sequence[Interface],
    table: Sequence[Route],
    iface: str | None,
) -> tuple[dict[str, tuple[Interface, list[int]]], list, list]:
    """Split the scope into ARP targets per interface (integers), routed targets and
    unreachable ones (addresses).

    The routing table decides, as it does for the kernel: the most specific route to an
    address either has a gateway (routed: nmap ping sweep) or is on-link (ARP on its device).
    An on-link address that several interfaces claim is ambiguous: the operator names the
    interface with --iface. Only addresses the guard allows are ever listed.
    """
    if iface and not any(i.name == iface for i in interfaces):
        raise UsageError(f"--iface {iface}: no such interface with an IPv4 address here")
    by_name: dict[str, Interface] = {}
    for interface in interfaces:
        by_name.setdefault(interface.name, interface)
    local: dict[str, tuple[Interface, list[int]]] = {}
    routed: list[ipaddress.IPv4Address] = []
    unreachable: list[ipaddress.IPv4Address] = []
    ambiguous: set[str] = set()
    # Every address between two consecutive route boundaries matches the same routes, so
    # each such segment of the scope's spans is decided once (a /16 scope was 65k route
    # matches, ~1 s, then 65k address objects walked one by one, ~0.3 s).
    keyed = [(int(r.network.network_address), int(r.network.netmask), r) for r in table]
    bounds = sorted({int(r.network.network_address) for r in table}
                    | {int(r.network.broadcast_address) + 1 for r in table})  # fmt: skip
    for version, first, last in guard.address_spans():
        if version != 4:  # IPv6 neighbour discovery sweeps are not built yet
            unreachable.extend(map(ipaddress.IPv6Address, range(first, last + 1)))
            continue
        start = first
        while start <= last:
            segment = bisect.bisect_right(bounds, start)
            end = min(last, bounds[segment] - 1) if segment < len(bounds) else last
            kind, device = _route_decision(start, keyed, by_name, iface)
            span = range(start, end + 1)
            if kind == "routed":
                routed.extend(map(ipaddress.IPv4Address, span))
            elif kind == "local":
                local.setdefault(device, (by_name[device], []))[1].extend(span)
            elif kind == "ambiguous":
                ambiguous.update(device.split(","))
            else:
                unreachable.extend(map(ipaddress.IPv4Address, span))
            start = end + 1
    if ambiguous:
        raise UsageError(
            f"the scope is local to several interfaces ({', '.join(sorted(ambiguous))}): "
            "choose one with --iface"
        )
    return local, routed, unreachable


def _route_decision(
    value: int,
    keyed: list[tuple[int, int, Route]],
    by_name: dict[str, Interface],
    iface: str | None,
) -> tuple[str, str | None]:
    """How the kernel would reach one address: ("routed"|"local"|"ambiguous"|"none", device)."""
    matching = [r for net, mask, r in keyed if value & mask == net]
    best = [r for r in matching if r.network.prefixlen == matching[0].network.prefixlen]
    if not best:
        return "none", None
    if all(r.gateway for r in best):
        return "routed", None
    devices = {r.dev for r in best if not r.gateway and r.dev in by_name}
    if iface and iface in devices:
        devices = {iface}
    if len(devices) > 1:
        return "ambiguous", ",".join(sorted(devices))
    if devices:
        return "local", devices.pop()
    return "none", None
