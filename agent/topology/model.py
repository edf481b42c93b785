"""What one device told us (``DeviceFacts``) and the topology built from all of them.

The topology is kept as a plain JSON document (``Topology.to_json``): it is what the store
keeps per run, what the diff compares and what every renderer draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.topology.parsers import ArpEntry, MacEntry, Neighbor

CONFIRMED, INFERRED = "confirmed", "inferred"
# Device classes that forward frames or packets: their MACs mark links, not hosts.
INFRA_CLASSES = {"switch", "router", "firewall"}


@dataclass
class DeviceFacts:
    """Everything read from one device in one run (``errors`` for what could not be read)."""

    name: str
    ip: str
    platform: str
    device_class: str = ""
    macs: set[str] = field(default_factory=set)  # the device's own addresses, where known
    neighbors: list[Neighbor] = field(default_factory=list)
    mac_table: list[MacEntry] = field(default_factory=list)
    arp: list[ArpEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # commands the device does not know
    pinned: str = ""  # the host key fingerprint, when this run pinned it (first contact)
    source: str = "ssh"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "ip": self.ip, "platform": self.platform,
            "device_class": self.device_class, "macs": sorted(self.macs), "source": self.source,
            "neighbors": [n.to_json() for n in self.neighbors],
            "mac_table": [m.to_json() for m in self.mac_table],
            "arp": [a.to_json() for a in self.arp], "errors": list(self.errors),
            "unsupported": list(self.unsupported),
        }  # fmt: skip


@dataclass
class Device:
    id: str
    name: str
    ips: list[str] = field(default_factory=list)
    macs: set[str] = field(default_factory=set)
    platform: str = ""
    device_class: str = ""
    collected: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "ip": self.ips[0] if self.ips else "",
            "ips": list(self.ips),
            "macs": sorted(self.macs),
            "platform": self.platform,
            "device_class": self.device_class,
            "collected": self.collected,
        }


@dataclass
class Link:
    a: str
    a_port: str
    b: str
    b_port: str
    kind: str
    protocols: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return link_key(self.a, self.a_port, self.b, self.b_port)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "a_port": self.a_port,
            "b": self.b,
            "b_port": self.b_port,
            "kind": self.kind,
            "protocols": sorted(self.protocols),
            "key": self.key,
        }


def link_key(a: str, a_port: str, b: str, b_port: str) -> str:
    """The same key whichever end reported the link (ports may be unknown on one side)."""
    ends = sorted([f"{a}:{a_port}", f"{b}:{b_port}"])
    return " -- ".join(ends)


@dataclass
class Topology:
    devices: dict[str, Device]
    links: list[Link]
    hosts: list[dict[str, Any]]  # placed on an access port: mac, ip, name, device, port, vlan
    unplaced: list[dict[str, Any]]  # seen only on uplinks, or only by discovery
    subnets: list[dict[str, Any]]
    errors: list[str]

    def to_json(self) -> dict[str, Any]:
        vlans = sorted({h["vlan"] for h in self.hosts if h.get("vlan") is not None})
        return {
            "devices": [d.to_json() for d in sorted(self.devices.values(), key=lambda d: d.id)],
            "links": [link.to_json() for link in sorted(self.links, key=lambda x: x.key)],
            "hosts": sorted(
                self.hosts, key=lambda h: (h["device"], _port_key(h["port"]), h["mac"])
            ),
            "unplaced": sorted(self.unplaced, key=lambda h: h["mac"] or h["ip"]),
            "subnets": self.subnets,
            "vlans": vlans,
            "errors": list(self.errors),
        }


def _port_key(port: str) -> tuple:
    """Natural order: Gi0/2 before Gi0/10."""
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", port))
