"""Which simulated switch port each lab host hangs off, and what every simulated switch
therefore sees: LLDP/CDP neighbours, its MAC address table and its ARP table.

The lab's namespaces share flat Linux bridges; this is the physical wiring the site
pretends to have, recorded in the manifest (``manifest["wiring"]``) so a test can compare
keyturn's diagram with it. Pure data and a pure function of the manifest:

    gw (router) eth0 -- Ethernet1/1 core-sw1 (NX-OS) Ethernet1/49 -- Ethernet49 dist-sw1 (EOS)
    dist-sw1 Ethernet50 -- GigabitEthernet1/0/49 access-sw1 (IOS)
    gw eth1 -- GigabitEthernet0/1 branch-sw1 (IOS, 198.18.1.0/24 behind the router)

Servers and appliances on core-sw1, printers and access points on dist-sw1, phones and
workstations on access-sw1, the routed subnet's hosts on branch-sw1.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

SWITCHES = ("core-sw1", "dist-sw1", "access-sw1", "branch-sw1")
ROUTER = "gw"
# (device, port, device, port): the cables between switches and to the router.
LINKS = [
    ("core-sw1", "Ethernet1/49", "dist-sw1", "Ethernet49"),
    ("dist-sw1", "Ethernet50", "access-sw1", "GigabitEthernet1/0/49"),
    ("core-sw1", "Ethernet1/1", ROUTER, "eth0"),
    ("branch-sw1", "GigabitEthernet0/1", ROUTER, "eth1"),
]
LAN_VLAN, BRANCH_VLAN = 1, 20
_PORTS = {
    "core-sw1": "Ethernet1/{}",
    "dist-sw1": "Ethernet{}",
    "access-sw1": "GigabitEthernet1/0/{}",
    "branch-sw1": "GigabitEthernet0/{}",
}
_PLACEMENT = {
    "core-sw1": [
        "fw1",
        "asa1",
        "edge-srx1",
        "wifi-rtr1",
        "dc1",
        "files1",
        "linux1",
        "esxi1",
        "nas1",
        "web1",
    ],
    "dist-sw1": ["prn1", "prn2", "ap1", "ap2"],
    "access-sw1": [
        "phone1",
        "phone2",
        "phone3",
        "ws01",
        "ws02",
        "ws03",
        "ws04",
        "ws05",
        "ws06",
        "ws07",
        "ws08",
    ],
    "branch-sw1": ["app1", "prn3", "ws20"],
}
_DESCRIPTION = {
    "cisco_nxos": "Cisco Nexus Operating System (NX-OS) Software 9.3(10)",
    "arista_eos": "Arista Networks EOS version 4.30.1F running on an Arista DCS-7050SX3",
    "cisco_ios": "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E7",
}


def plan(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """The wiring for the manifest's hosts: links, and host -> [switch, port, vlan]."""
    names = {h["name"] for h in hosts}
    access: dict[str, list] = {}
    for switch, members in _PLACEMENT.items():
        start = 2 if switch in ("core-sw1", "branch-sw1") else 1
        for i, name in enumerate(m for m in members if m in names):
            vlan = BRANCH_VLAN if switch == "branch-sw1" else LAN_VLAN
            access[name] = [switch, _PORTS[switch].format(start + i), vlan]
    links = [list(link) for link in LINKS if {link[0], link[2]} <= names]
    return {"links": links, "access": access}


def move(wiring: dict[str, Any], host: str, switch: str, port: str, vlan: int) -> dict:
    """A copy of ``wiring`` with ``host`` re-cabled to switch:port (a test's moved host)."""
    moved = copy.deepcopy(wiring)
    moved["access"][host] = [switch, port, vlan]
    return moved


def write_views(lab: Any) -> None:
    """Each simulated switch's tables (``wiring.json`` in its state directory) from the
    lab's recorded wiring; the simulators and the switches' snmpd re-read it per request."""
    from pathlib import Path

    from lab.simulators.neighbors import write_view

    if "wiring" not in lab.manifest:
        return
    with lab._lock:
        for switch, view in switch_views(lab.manifest).items():
            state_dir = lab.host(switch).get("simulator_state_dir")
            if state_dir:
                write_view(Path(state_dir), view)


def move_host(lab: Any, name: str, switch: str, port: str, vlan: int) -> None:
    """Re-cable ``name`` to switch:port in the running lab (a test restores it after)."""
    with lab._lock:
        lab.host(name)
        lab.manifest["wiring"] = move(lab.manifest["wiring"], name, switch, port, vlan)
    write_views(lab)
    lab._save_manifest()


def switch_views(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """switch name -> {"neighbors", "macs", "arp"} as the simulator answers them. A switch
    sees every MAC of the layer-2 domain behind each port (hosts behind an uplink show on
    the uplink); the router ends the domain, so only its own leg's MAC shows beyond it."""
    hosts = {h["name"]: h for h in manifest["hosts"]}
    wiring = manifest["wiring"]
    router_mac = {}
    if ROUTER in hosts:
        router = hosts[ROUTER]
        router_mac = {
            "eth0": router["mac"],
            "eth1": (router.get("other_macs") or [router["mac"]])[0],
        }
    adjacent: dict[str, list[tuple[str, str, str]]] = defaultdict(
        list
    )  # dev -> (port, peer, peer port)
    for a, ap, b, bp in wiring["links"]:
        adjacent[a].append((ap, b, bp))
        adjacent[b].append((bp, a, ap))
    attached: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for name, (switch, port, vlan) in wiring["access"].items():
        if name in hosts:
            attached[switch].append((name, port, vlan))

    def behind(switch: str, came_from: str) -> list[tuple[str, int]]:
        """(mac, vlan) of everything reachable from ``switch`` without going back."""
        out = [(hosts[switch]["mac"], _vlan_of(switch))]
        out += [(hosts[n]["mac"], vlan) for n, _port, vlan in attached[switch]]
        for _port, peer, peer_port in adjacent[switch]:
            if peer == came_from:
                continue
            if peer == ROUTER:
                out.append((router_mac.get(peer_port, ""), _vlan_of(switch)))
            else:
                out += behind(peer, switch)
        return out

    views = {}
    for switch in SWITCHES:
        if switch not in hosts:
            continue
        macs = [
            (mac, vlan, port) for n, port, vlan in attached[switch] for mac in [hosts[n]["mac"]]
        ]
        neighbors = []
        for port, peer, peer_port in adjacent[switch]:
            if peer == ROUTER:
                macs.append((router_mac[peer_port], _vlan_of(switch), port))
                ip = (
                    hosts[ROUTER]["ip"]
                    if peer_port == "eth0"
                    else (hosts[ROUTER].get("other_ips") or [hosts[ROUTER]["ip"]])[0]
                )
                neighbors.append(
                    {
                        "local_port": port,
                        "name": ROUTER,
                        "port": peer_port,
                        "chassis": router_mac["eth0"],
                        "mgmt_ip": ip,
                        "platform": "EdgeOS v2.0.9",
                        "capabilities": "R",
                        "cdp": False,
                    }
                )
                continue
            macs += [(mac, vlan, port) for mac, vlan in behind(peer, switch)]
            neighbors.append(
                {
                    "local_port": port,
                    "name": peer,
                    "port": peer_port,
                    "chassis": hosts[peer]["mac"],
                    "mgmt_ip": hosts[peer]["ip"],
                    "platform": _DESCRIPTION.get(hosts[peer].get("platform") or "", ""),
                    "capabilities": "B,R" if peer == "core-sw1" else "B",
                    "cdp": hosts[peer].get("platform") in ("cisco_ios", "cisco_nxos"),
                }
            )
        subnet = hosts[switch]["subnet"]
        arp = [
            {"ip": h["ip"], "mac": h["mac"], "vlan": _vlan_of(switch)}
            for h in manifest["hosts"]
            if h["subnet"] == subnet and h["name"] != switch
        ]
        if ROUTER in hosts and subnet != hosts[ROUTER]["subnet"] and router_mac:
            arp.append(
                {
                    "ip": (hosts[ROUTER].get("other_ips") or [""])[0],
                    "mac": router_mac["eth1"],
                    "vlan": _vlan_of(switch),
                }
            )
        views[switch] = {
            "neighbors": neighbors,
            "macs": [{"mac": m, "vlan": v, "port": p} for m, v, p in macs if m],
            "arp": arp,
        }
    return views


def _vlan_of(switch: str) -> int:
    return BRANCH_VLAN if switch == "branch-sw1" else LAN_VLAN


def synthetic_facts(
    dist: int, access_per_dist: int, hosts_per_access: int, *, lldp: bool = True
) -> tuple[list, dict[str, tuple[str, str]]]:
    """A core switch, ``dist`` distribution switches, each with ``access_per_dist`` access
    switches carrying ``hosts_per_access`` hosts in two VLANs: the facts keyturn would read
    from every switch (neighbours only when ``lldp``), and mac -> (switch, port) as wired.
    For tests and benchmarks of the model and the layout."""
    from agent.topology.model import DeviceFacts
    from agent.topology.parsers import MacEntry, Neighbor

    def mac(n: int) -> str:
        return ":".join(
            f"{b:02x}" for b in (0x02, 0, n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
        )

    counter = iter(range(1, 10**7))
    core = DeviceFacts("core", "10.0.0.1", "cisco_nxos", "switch", {mac(next(counter))})
    facts, expected = [core], {}
    for d in range(dist):
        dsw = DeviceFacts(
            f"dist{d}", f"10.0.{d + 1}.1", "arista_eos", "switch", {mac(next(counter))}
        )
        facts.append(dsw)
        block: list[tuple[str, int]] = []  # (mac, vlan) of everything in this block
        per_access: list[list[tuple[str, int]]] = []
        for a in range(access_per_dist):
            asw = DeviceFacts(
                f"acc{d}-{a}", f"10.0.{d + 1}.{a + 10}", "cisco_ios", "switch", {mac(next(counter))}
            )
            facts.append(asw)
            mine = [(next(iter(asw.macs)), 1)]
            for h in range(hosts_per_access):
                host_mac, vlan = mac(next(counter)), 100 + h % 2
                port = f"GigabitEthernet1/0/{h + 1}"
                asw.mac_table.append(MacEntry(host_mac, vlan, port))
                expected[host_mac] = (asw.name, port)
                mine.append((host_mac, vlan))
            per_access.append(mine)
            block += mine
            up, down = "GigabitEthernet1/0/49", f"Ethernet{a + 1}"
            if lldp:
                asw.neighbors.append(
                    Neighbor("lldp", up, dsw.name, down, next(iter(dsw.macs)), dsw.ip, "", "B")
                )
                dsw.neighbors.append(
                    Neighbor("lldp", down, asw.name, up, next(iter(asw.macs)), asw.ip, "", "B")
                )
            dsw.mac_table += [MacEntry(m, v, down) for m, v in mine]
        for a, mine in enumerate(per_access):
            asw = facts[-access_per_dist + a]
            others = [x for x in block if x not in mine]
            asw.mac_table += [
                MacEntry(m, v, "GigabitEthernet1/0/49")
                for m, v in [*others, (next(iter(dsw.macs)), 1), (next(iter(core.macs)), 1)]
            ]
        up, down = "Ethernet100", f"Ethernet1/{d + 1}"
        if lldp:
            dsw.neighbors.append(
                Neighbor("lldp", up, "core", down, next(iter(core.macs)), core.ip, "", "B,R")
            )
            core.neighbors.append(
                Neighbor("lldp", down, dsw.name, up, next(iter(dsw.macs)), dsw.ip, "", "B")
            )
        core.mac_table += [MacEntry(m, v, down) for m, v in [*block, (next(iter(dsw.macs)), 1)]]
        dsw.mac_table.append(MacEntry(next(iter(core.macs)), 1, up))
    return facts, expected
