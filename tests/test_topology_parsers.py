"""The topology parsers on outputs recorded from real devices (tests/data/topology/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.topology import parsers
from agent.topology.parsers import ArpEntry, MacEntry

NTC = Path(__file__).parent / "data" / "topology" / "ntc"


def raw(name: str) -> str:
    return (NTC / f"{name}.raw").read_text()


@pytest.mark.parametrize(
    ("platform", "kind", "fixture", "count", "first"),
    [
        ("cisco_ios", "cdp", "cisco_ios_show_cdp_neighbors_detail", 4,
         ("GigabitEthernet1/0/16", "desktop-switch", "GigabitEthernet0/1", "10.1.1.2")),
        ("cisco_ios", "lldp", "cisco_ios_show_lldp_neighbors_detail1", 3,
         ("GigabitEthernet1/0/2", "", "ge-0/0/0.0", "")),
        ("cisco_nxos", "lldp", "cisco_nxos_show_lldp_neighbors_detail", 4,
         ("mgmt0", "Switch.cisco.com", "FastEthernet1/0/9", "10.30.140.1")),
        ("cisco_nxos", "cdp", "cisco_nxos_show_cdp_neighbors_detail", 5,
         ("mgmt0", "PERIMETER", "FastEthernet1/0/32", "10.1.100.1")),
        ("arista_eos", "lldp", "arista_eos_show_lldp_neighbors_detail", 20,
         ("Ethernet1", "spine2.company.com", "Ethernet1", "")),
        ("juniper_junos", "lldp", "juniper_junos_show_lldp_neighbors", 2,
         ("ge-0/0/1", "vmx2", "ge-0/0/1", "")),
        ("mikrotik_routeros", "lldp", "mikrotik_routeros_ip_neighbor_print_detail", 1,
         ("ether1", "MikroTik-Dev", "ether2", "")),
    ],
)  # fmt: skip
def test_neighbors_from_real_devices(platform, kind, fixture, count, first):
    found = parsers.parse_neighbors(platform, kind, raw(fixture))
    assert len(found) == count
    head = found[0]
    assert (head.local_port, head.name, head.port, head.mgmt_ip) == first
    assert all(n.protocol == kind for n in found)


def test_cdp_entries_keep_platform_and_capabilities():
    found = parsers.parse_neighbors("cisco_ios", "cdp", raw("cisco_ios_show_cdp_neighbors_detail"))
    router = next(n for n in found if n.name == "ce-router")
    assert router.capabilities.startswith("Router") and router.platform == "Cisco 3825"
    assert router.local_port == "GigabitEthernet1/0/22"


def test_lldp_chassis_ids_are_normalised_macs():
    found = parsers.parse_neighbors("cisco_ios", "lldp",
                                    raw("cisco_ios_show_lldp_neighbors_detail1"))  # fmt: skip
    assert found[0].chassis == "7c:25:86:c9:aa:aa"
    junos = parsers.parse_neighbors(
        "juniper_junos", "lldp", raw("juniper_junos_show_lldp_neighbors")
    )
    assert [n.chassis for n in junos] == ["2c:6b:f5:a1:c2:c0", "2c:6b:f5:a2:08:c0"]


@pytest.mark.parametrize(
    ("platform", "fixture", "count", "first"),
    [
        ("cisco_ios", "cisco_ios_show_mac-address-table", 9,
         MacEntry("00:10:0d:e0:e2:89", 1, "FastEthernet0/1")),
        ("cisco_ios", "cisco_ios_show_mac-address-table4", None,
         MacEntry("30:a3:30:a3:a1:c3", 1, "Port-Channel1")),
        # The supervisor and Drop entries are not ports and are left out.
        ("cisco_nxos", "cisco_nxos_show_mac_address-table", 1,
         MacEntry("00:0e:00:0e:00:0e", 145, "Port-Channel10")),
        ("arista_eos", "arista_eos_show_mac_address-table", None,
         MacEntry("00:12:36:94:03:ec", 3, "Ethernet7")),
        ("mikrotik_routeros", "interface_bridge_host_print_terse_without-paging", None,
         MacEntry("11:22:33:44:55:01", None, "ether4")),
    ],
)  # fmt: skip
def test_mac_tables_from_real_devices(platform, fixture, count, first):
    found = parsers.parse_macs(platform, raw(fixture))
    assert found and (count is None or len(found) == count)
    assert first in found
    assert all(e.port.lower() not in ("cpu", "drop") for e in found)


@pytest.mark.parametrize(
    ("platform", "fixture", "first"),
    [
        ("cisco_ios", "cisco_ios_show_ip_arp",
         ArpEntry("172.16.233.229", "00:00:0c:59:f8:92", "Ethernet0/0")),
        ("cisco_nxos", "cisco_nxos_show_ip_arp",
         ArpEntry("1.1.1.2", "3c:60:f4:0e:f9:c3", "Ethernet1/41")),
        ("arista_eos", "arista_eos_show_ip_arp",
         ArpEntry("172.25.0.2", "00:4c:62:11:02:1e", "Vlan101")),
    ],
)  # fmt: skip
def test_arp_tables_from_real_devices(platform, fixture, first):
    found = parsers.parse_arp(platform, raw(fixture))
    assert found[0] == first


IP_NEIGH = """\
198.18.0.1 dev eth0 lladdr 24:a4:3c:12:34:56 REACHABLE
198.18.0.250 dev eth0 lladdr 9e:1f:00:aa:bb:cc STALE
198.18.0.77 dev eth0  FAILED
198.18.0.78 dev eth0 INCOMPLETE
"""
BRIDGE_FDB = """\
33:33:00:00:00:01 dev eth0 self permanent
01:00:5e:00:00:01 dev eth0 self permanent
00:1b:21:aa:bb:01 dev veth1 vlan 10 master br0
00:1b:21:aa:bb:02 dev veth2 master br0
ae:11:22:33:44:55 dev veth1 vlan 1 master br0 permanent
"""


def test_linux_neighbours_and_bridge_fdb():
    assert parsers.parse_arp("linux", IP_NEIGH) == [
        ArpEntry("198.18.0.1", "24:a4:3c:12:34:56", "eth0"),
        ArpEntry("198.18.0.250", "9e:1f:00:aa:bb:cc", "eth0"),
    ]
    assert parsers.parse_macs("linux", BRIDGE_FDB) == [
        MacEntry("00:1b:21:aa:bb:01", 10, "veth1"),
        MacEntry("00:1b:21:aa:bb:02", None, "veth2"),
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Gi1/0/1", "GigabitEthernet1/0/1"), ("Et7", "Ethernet7"), ("Eth1/49", "Ethernet1/49"),
     ("Po2", "Port-Channel2"), ("eth1", "eth1"), ("ge-0/0/1", "ge-0/0/1"), ("CPU", ""),
     ("Gi1/0/1; reload", ""), ("\x1b[2Jx", "")],
)  # fmt: skip
def test_port_names_are_normalised_or_refused(given, expected):
    assert parsers.normalize_port(given) == expected


def test_hostile_fields_are_dropped_or_neutralised():
    assert parsers.normalize_mac("zz:zz:zz:zz:zz:zz") == ""
    assert parsers.clean_ip("198.18.0.1; rm -rf /") == ""
    assert parsers.clean_text("sw\x1b[31m1\x07") == "sw [31m1"
