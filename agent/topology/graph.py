"""The drawing's elements, shared by every renderer: device nodes, one node per group of
hosts (access switch x VLAN: one node per host made a 300-host site 14,000 pt wide), subnet
notes hanging off their gateways, and edges marked confirmed / inferred / added / removed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

ADDED, REMOVED, MOVED, NEW = "added", "removed", "moved", "new"


@dataclass
class Node:
    id: str
    kind: str  # device class ("switch", "router", ...), "hosts" or "subnet"
    label: str
    detail: list[str] = field(default_factory=list)  # a group's hosts, a device's addresses
    change: str = ""


@dataclass
class Edge:
    a: str
    b: str
    kind: str  # confirmed, inferred, access, gateway
    a_label: str = ""
    b_label: str = ""
    label: str = ""
    change: str = ""


def elements(
    doc: dict[str, Any], changes: dict[str, Any] | None = None
) -> tuple[list[Node], list[Edge]]:
    changes = changes or {}
    new_devices = set(changes.get("devices_new", []))
    moved = {h["mac"] for h in changes.get("hosts_moved", [])}
    new_hosts = {h["mac"] for h in changes.get("hosts_new", [])}
    added = {link["key"] for link in changes.get("links_added", [])}
    nodes: list[Node] = []
    edges: list[Edge] = []
    for device in doc.get("devices", []):
        detail = [ip for ip in device.get("ips", [])]
        if device.get("platform"):
            detail.append(device["platform"])
        nodes.append(
            Node(
                f"d:{device['id']}",
                device.get("device_class") or "switch",
                device["name"],
                detail,
                NEW if device["id"] in new_devices else "",
            )
        )
    for link in doc.get("links", []):
        edges.append(
            Edge(
                f"d:{link['a']}",
                f"d:{link['b']}",
                link["kind"],
                link["a_port"],
                link["b_port"],
                change=ADDED if link["key"] in added else "",
            )
        )
    ids = {n.id for n in nodes}
    for link in changes.get("links_removed", []):
        a, b = f"d:{link['a']}", f"d:{link['b']}"
        if a in ids and b in ids:
            edges.append(Edge(a, b, link["kind"], link["a_port"], link["b_port"], change=REMOVED))
    groups: dict[tuple[str, Any], list[dict]] = defaultdict(list)
    for host in doc.get("hosts", []):
        groups[(host["device"], host.get("vlan"))].append(host)
    for (device, vlan), members in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        gid = f"g:{device}:{vlan}"
        count = len(members)
        label = f"{count} host{'s' if count != 1 else ''}" + (f"\nVLAN {vlan}" if vlan else "")
        detail = [
            f"{h['port']}  {h.get('name') or h.get('ip') or h['mac']}"
            + (f"  {h['ip']}" if h.get("name") and h.get("ip") else "")
            for h in members
        ]
        change = ""
        macs = {h["mac"] for h in members}
        if macs & moved:
            change = MOVED
        elif macs & new_hosts:
            change = NEW
        nodes.append(Node(gid, "hosts", label, detail, change))
        ports = sorted({h["port"] for h in members})
        edges.append(
            Edge(
                f"d:{device}",
                gid,
                "access",
                label=ports[0] if len(ports) == 1 else f"{len(ports)} ports",
            )
        )
    for subnet in doc.get("subnets", []):
        sid = f"s:{subnet['cidr']}"
        nodes.append(
            Node(
                sid,
                "subnet",
                subnet["cidr"],
                [f"gateway {subnet['gateway']}"] if subnet.get("gateway") else [],
            )
        )
        if subnet.get("gateway_device") and f"d:{subnet['gateway_device']}" in ids:
            edges.append(
                Edge(f"d:{subnet['gateway_device']}", sid, "gateway", label=subnet["gateway"])
            )
    return nodes, edges
