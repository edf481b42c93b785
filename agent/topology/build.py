"""Facts from every device -> one ``Topology``.

The traps this avoids: a MAC learnt on an uplink is behind that uplink, not attached to it
(hosts are placed only on ports that face no switch or router); a switch's own MAC on
another switch's port means a link between them only when no third switch sits between
(checked from both MAC tables, as in the classic forwarding-table topology method); a
neighbour that reports itself under several names or addresses (a router seen from two
subnets) is one device.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from agent.topology.model import (
    CONFIRMED,
    INFERRED,
    INFRA_CLASSES,
    Device,
    DeviceFacts,
    Link,
    Topology,
)  # fmt: skip
from agent.topology.parsers import Neighbor, normalize_mac

_INFRA_CAPS = ("bridge", "router", "switch", "b", "r")


def short_name(name: str) -> str:
    """'core-sw1.acme.local' -> 'core-sw1' (LLDP sends the FQDN, the prompt the hostname)."""
    name = name.strip().lower()
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        return name.split(".", 1)[0]


class _Registry:
    """Devices by every name, address and MAC they are known under."""

    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self.by_key: dict[str, str] = {}

    def find(self, *keys: str) -> Device | None:
        for key in keys:
            if key and key.lower() in self.by_key:
                return self.devices[self.by_key[key.lower()]]
        return None

    def add(self, device: Device) -> Device:
        self.devices[device.id] = device
        self.index(device)
        return device

    def index(self, device: Device) -> None:
        for key in [device.id, short_name(device.name), *device.ips, *device.macs]:
            if key:
                self.by_key.setdefault(key.lower(), device.id)


def build(
    facts: Iterable[DeviceFacts],
    known_hosts: Iterable[dict[str, Any]] = (),
    subnets: Iterable[str] = (),
) -> Topology:
    """``known_hosts``: discovery's hosts (ip, mac, hostname/name, device_class) to name and
    address what the MAC tables show; ``subnets``: the site's scope networks."""
    facts = list(facts)
    known = [h for h in known_hosts if h.get("ip")]
    by_mac = {normalize_mac(h.get("mac") or ""): h for h in known if h.get("mac")}
    by_mac.pop("", None)
    registry = _Registry()
    for fact in facts:
        own = set(fact.macs)
        host = next((h for h in known if h["ip"] == fact.ip), None)
        if host and normalize_mac(host.get("mac") or ""):
            own.add(normalize_mac(host["mac"]))
        registry.add(
            Device(
                id=short_name(fact.name) or fact.ip,
                name=fact.name,
                ips=[fact.ip],
                macs=own,
                platform=fact.platform,
                device_class=fact.device_class or (host or {}).get("device_class") or "",
                collected=True,
            )
        )
    links: dict[str, Link] = {}
    host_neighbors: dict[tuple[str, str], Neighbor] = {}
    for fact in facts:
        me = registry.find(short_name(fact.name), fact.ip)
        assert me is not None
        for nb in fact.neighbors:
            other = _neighbor_device(registry, nb, known)
            if other is None:
                host_neighbors[(me.id, nb.local_port)] = nb
                continue
            if other.id == me.id:
                continue
            link = Link(me.id, nb.local_port, other.id, nb.port, CONFIRMED, [nb.protocol])
            existing = links.get(link.key)
            if existing is None:
                links[link.key] = link
            elif nb.protocol not in existing.protocols:
                existing.protocols.append(nb.protocol)
    _infer_links(facts, registry, links)
    uplinks: dict[str, set[str]] = defaultdict(set)
    for link in links.values():
        uplinks[link.a].add(link.a_port)
        uplinks[link.b].add(link.b_port)
    hosts, unplaced = _place_hosts(facts, registry, uplinks, by_mac, host_neighbors)
    placed = {h["mac"] for h in hosts} | {h["mac"] for h in unplaced}
    for host in known:
        mac = normalize_mac(host.get("mac") or "")
        if registry.find(host["ip"], mac) is None and mac not in placed:
            unplaced.append(_host_row(mac, host, "", "", None) | {"why": "not in any MAC table"})
    errors = [f"{f.name}: {e}" for f in facts for e in f.errors]
    return Topology(
        registry.devices,
        list(links.values()),
        hosts,
        unplaced,
        _subnets(subnets, registry, known, facts),
        errors,
    )


def _neighbor_device(registry: _Registry, nb: Neighbor, known: list[dict]) -> Device | None:
    """The device a neighbour entry names, created when it is infrastructure we do not log
    into (an uncollected router); None when it is a host (a phone, a server's LLDP agent)."""
    found = registry.find(short_name(nb.name), nb.mgmt_ip, nb.chassis)
    if found is not None:
        _learn(registry, found, nb)
        return found
    known_host = next((h for h in known if nb.mgmt_ip and h["ip"] == nb.mgmt_ip), None)
    cls = (known_host or {}).get("device_class") or ""
    caps = {c.strip().lower() for c in nb.capabilities.replace(",", " ").split()}
    if cls not in INFRA_CLASSES and not caps & set(_INFRA_CAPS):
        return None
    name = nb.name or nb.mgmt_ip or nb.chassis
    device = Device(
        id=short_name(name),
        name=name,
        platform=nb.platform,
        device_class=cls or ("router" if caps & {"router", "r"} else "switch"),
    )
    _learn(registry, device, nb)
    return registry.add(device)


def _learn(registry: _Registry, device: Device, nb: Neighbor) -> None:
    if nb.mgmt_ip and nb.mgmt_ip not in device.ips:
        device.ips.append(nb.mgmt_ip)
    if nb.chassis:
        device.macs.add(nb.chassis)
    registry.index(device)


def _infer_links(facts: list[DeviceFacts], registry: _Registry, links: dict[str, Link]) -> None:
    """Links no neighbour protocol confirmed, from the MAC tables: A sees B on port p and B
    sees A on port q (or B keeps no MAC table), and no third device C is seen both by A on
    p and by B on q (C would sit between them)."""
    owner = {m: d.id for d in registry.devices.values() for m in d.macs}
    seen_on: dict[tuple[str, str], set[str]] = defaultdict(set)  # (A, port) -> devices
    with_table = set()
    for fact in facts:
        me = registry.find(short_name(fact.name), fact.ip)
        if me is None or not fact.mac_table:
            continue
        with_table.add(me.id)
        for entry in fact.mac_table:
            other = owner.get(entry.mac)
            if other is not None and other != me.id:
                seen_on[(me.id, entry.port)].add(other)
    sees: dict[tuple[str, str], set[str]] = defaultdict(set)  # (B, A) -> B's ports toward A
    for (device, port), others in seen_on.items():
        for other in others:
            sees[(device, other)].add(port)
    linked = {frozenset((link.a, link.b)) for link in links.values()}
    confirmed_ports = {(link.a, link.a_port) for link in links.values()} | {
        (link.b, link.b_port) for link in links.values()
    }
    for (a, p), others in sorted(seen_on.items()):
        if (a, p) in confirmed_ports:
            continue  # that port's far end is known already
        for b in sorted(others):
            if frozenset((a, b)) in linked:
                continue
            q_ports = sorted(sees.get((b, a), set())) if b in with_table else [""]
            for q in q_ports:
                if (b, q) in confirmed_ports:
                    continue
                middle = others - {a, b}
                if q:
                    middle &= seen_on.get((b, q), set())
                elif middle:
                    continue  # B keeps no table: only a port where B alone is seen
                if not middle:
                    link = Link(a, p, b, q, INFERRED, ["mac-table"])
                    links.setdefault(link.key, link)
                    linked.add(frozenset((a, b)))
                    break


def _place_hosts(facts, registry, uplinks, by_mac, host_neighbors):
    """Each MAC on the access port it was learnt on; MACs seen only on uplinks stay unplaced.
    When a MAC shows on several access ports (a small unmanaged switch behind one of them),
    the port with the fewest MACs is the nearest one."""
    arp = {a.mac: a.ip for f in facts for a in f.arp}
    infra_macs = {m for d in registry.devices.values() for m in d.macs}
    per_port: dict[tuple[str, str], int] = defaultdict(int)
    sightings: dict[str, list[tuple[str, str, int | None]]] = defaultdict(list)
    on_uplink: set[str] = set()
    for fact in facts:
        me = registry.find(short_name(fact.name), fact.ip)
        for entry in fact.mac_table:
            if entry.mac in infra_macs:
                continue
            if entry.port in uplinks.get(me.id, ()):
                on_uplink.add(entry.mac)
                continue
            per_port[(me.id, entry.port)] += 1
            sightings[entry.mac].append((me.id, entry.port, entry.vlan))
    hosts, unplaced = [], []
    for mac, seen in sightings.items():
        device, port, vlan = min(seen, key=lambda s: (per_port[(s[0], s[1])], s[0], s[1]))
        known = by_mac.get(mac, {})
        row = _host_row(mac, known, device, port, vlan)
        row["ip"] = row["ip"] or arp.get(mac, "")
        nb = host_neighbors.get((device, port))
        if nb is not None and not row["name"]:
            row["name"] = nb.name
        hosts.append(row)
    for mac in sorted(on_uplink - set(sightings)):
        row = _host_row(mac, by_mac.get(mac, {}), "", "", None)
        row["ip"] = row["ip"] or arp.get(mac, "")
        unplaced.append(row | {"why": "seen only on uplinks"})
    return hosts, unplaced


def _host_row(mac: str, known: dict, device: str, port: str, vlan: int | None) -> dict:
    return {
        "mac": mac,
        "ip": known.get("ip") or "",
        "name": known.get("hostname") or known.get("name") or "",
        "device_class": known.get("device_class") or "",
        "device": device,
        "port": port,
        "vlan": vlan,
    }


def _subnets(
    cidrs: Iterable[str], registry: _Registry, known: list[dict], facts: list[DeviceFacts]
) -> list[dict[str, Any]]:
    """Each scope network with its gateway: the router/firewall with an address in it,
    preferring one with addresses in two or more networks (it routes between them)."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    routers = [d for d in registry.devices.values() if d.device_class in ("router", "firewall")]
    for host in known:
        if host.get("device_class") in ("router", "firewall") and registry.find(host["ip"]) is None:
            routers.append(
                Device(
                    id=host["ip"],
                    name=host.get("hostname") or host["ip"],
                    ips=[host["ip"]],
                    device_class=host["device_class"],
                )
            )

    def inside(device: Device, net) -> list[str]:
        return [ip for ip in device.ips if _in(ip, net)]

    out = []
    for net in networks:
        candidates = [d for d in routers if inside(d, net)]
        candidates.sort(
            key=lambda d: (
                -sum(1 for n in networks if inside(d, n)),
                d.device_class != "router",
                ipaddress.ip_address(inside(d, net)[0]),
            )
        )
        gateway = candidates[0] if candidates else None
        out.append(
            {
                "cidr": str(net),
                "gateway": inside(gateway, net)[0] if gateway else "",
                "gateway_device": gateway.id if gateway else "",
            }
        )
    return out


def _in(ip: str, net) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False
