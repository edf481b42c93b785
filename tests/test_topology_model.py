"""The topology model, diff and drawings on synthetic facts (pure logic, no network)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from agent.topology import draw
from agent.topology.build import build
from agent.topology.diff import diff
from agent.topology.exports import to_drawio, to_graphml
from agent.topology.graph import elements
from agent.topology.model import DeviceFacts
from agent.topology.parsers import MacEntry, Neighbor
from lab.wiring import synthetic_facts

HOSTILE = 'sw"]; x [label="<script>alert(1)</script>'


def xml_of(text: str) -> ET.Element:
    """keyturn's own export, parsed to prove it is well-formed XML."""
    return ET.fromstring(text)  # noqa: S314 - our output, in a test


def placed(doc):
    return {h["mac"]: (h["device"], h["port"]) for h in doc["hosts"]}


@pytest.mark.parametrize("lldp", [True, False])
def test_every_host_on_its_access_port_and_every_link_found(lldp):
    facts, expected = synthetic_facts(3, 4, 6, lldp=lldp)
    doc = build(facts).to_json()
    # The trap: each host's MAC is also learnt on every uplink on its way to the core.
    assert placed(doc) == expected
    pairs = {frozenset((link["a"], link["b"])) for link in doc["links"]}
    wanted = {frozenset(("core", f"dist{d}")) for d in range(3)} | {
        frozenset((f"dist{d}", f"acc{d}-{a}")) for d in range(3) for a in range(4)
    }
    assert pairs == wanted  # and no core-access shortcut through the MAC tables
    assert {link["kind"] for link in doc["links"]} == {"confirmed" if lldp else "inferred"}
    assert doc["vlans"] == [100, 101] and doc["unplaced"] == []


def test_inferred_links_carry_both_ports():
    facts, _ = synthetic_facts(1, 2, 1, lldp=False)
    doc = build(facts).to_json()
    link = next(x for x in doc["links"] if {x["a"], x["b"]} == {"dist0", "acc0-1"})
    ports = {link["a"]: link["a_port"], link["b"]: link["b_port"]}
    assert ports == {"dist0": "Ethernet2", "acc0-1": "GigabitEthernet1/0/49"}


def test_a_mac_seen_only_on_an_uplink_is_not_attached_there():
    a = DeviceFacts("a", "10.0.0.1", "cisco_ios", "switch", {"02:00:00:00:00:01"},
                    neighbors=[Neighbor("lldp", "Gi0/1", "b", "Gi0/2", "02:00:00:00:00:02",
                                        "10.0.0.2", "", "B")],
                    mac_table=[MacEntry("02:aa:00:00:00:01", 1, "Gi0/1")])  # fmt: skip
    doc = build([a]).to_json()
    assert doc["hosts"] == []
    assert doc["unplaced"][0]["mac"] == "02:aa:00:00:00:01"
    assert doc["unplaced"][0]["why"] == "seen only on uplinks"


def test_a_router_seen_from_two_subnets_is_one_gateway_for_both():
    core = DeviceFacts(
        "core",
        "198.18.0.4",
        "cisco_nxos",
        "switch",
        neighbors=[
            Neighbor(
                "lldp", "Ethernet1/1", "gw", "eth0", "24:a4:3c:00:00:01", "198.18.0.1", "", "R"
            )
        ],
    )
    branch = DeviceFacts("branch", "198.18.1.2", "cisco_ios", "switch", neighbors=[
        Neighbor("lldp", "GigabitEthernet0/1", "gw.acme.local", "eth1", "24:a4:3c:00:00:01",
                 "198.18.1.1", "", "R")])  # fmt: skip
    doc = build([core, branch], subnets=["198.18.0.0/24", "198.18.1.0/24"]).to_json()
    gw = next(d for d in doc["devices"] if d["id"] == "gw")
    assert gw["ips"] == ["198.18.0.1", "198.18.1.1"] and gw["device_class"] == "router"
    assert doc["subnets"] == [
        {"cidr": "198.18.0.0/24", "gateway": "198.18.0.1", "gateway_device": "gw"},
        {"cidr": "198.18.1.0/24", "gateway": "198.18.1.1", "gateway_device": "gw"},
    ]
    assert {(x["a"], x["b"]) for x in doc["links"]} == {("core", "gw"), ("branch", "gw")}


def test_moved_host_added_link_and_new_switch_show_in_the_diff():
    facts, _ = synthetic_facts(1, 2, 2)
    before = build(facts).to_json() | {"run_id": 1}
    mover = facts[2].mac_table[0].mac  # acc0-0's first host
    facts2, _ = synthetic_facts(1, 3, 2)  # a third access switch (and its link)
    for fact in facts2:
        for i, entry in enumerate(fact.mac_table):
            if entry.mac == mover and fact.name == "acc0-0":
                fact.mac_table[i] = MacEntry(mover, entry.vlan, "GigabitEthernet1/0/20")
    after = build(facts2).to_json()
    changes = diff(before, after)
    assert changes["previous_run_id"] == 1
    assert changes["devices_new"] == ["acc0-2"]
    assert [x["key"] for x in changes["links_added"]] == [
        "acc0-2:GigabitEthernet1/0/49 -- dist0:Ethernet3"
    ]
    [moved] = changes["hosts_moved"]
    assert moved["mac"] == mover and moved["to"]["port"] == "GigabitEthernet1/0/20"
    assert diff(None, after)["hosts_moved"] == []


def _sample():
    facts, _ = synthetic_facts(2, 2, 3)
    facts[1].name = HOSTILE
    doc = build(facts, subnets=["10.0.0.0/16"]).to_json()
    return doc, elements(doc, {"devices_new": ["acc0-1"]})


def test_exports_parse_and_dot_renders():
    _doc, (nodes, edges) = _sample()
    mx = xml_of(to_drawio(nodes, edges))
    assert mx.tag == "mxfile" and mx.find("diagram/mxGraphModel/root") is not None
    cells = mx.findall("diagram/mxGraphModel/root/mxCell")
    vertices = [c for c in cells if c.get("vertex") == "1"]
    assert len(vertices) == len(nodes)
    assert all(c.find("mxGeometry") is not None for c in cells if c.get("id") not in ("0", "1"))
    assert any(HOSTILE in (c.get("value") or "") for c in vertices)
    gml = xml_of(to_graphml(nodes, edges))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(gml.findall("g:graph/g:node", ns)) == len(nodes)
    assert len(gml.findall("g:graph/g:edge", ns)) == len(edges)
    dot_text = draw.to_dot(nodes, edges)
    assert "<script>" in dot_text and "alert(1)</script>" in dot_text  # as label text
    rendered = subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    svg = xml_of(rendered.stdout[rendered.stdout.index("<svg") :])
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert HOSTILE.split("\n")[0] in "".join(x or "" for x in texts)
    assert not list(svg.iter("{http://www.w3.org/2000/svg}script"))


def test_without_graphviz_a_plain_layout_with_a_note(monkeypatch):
    _doc, (nodes, edges) = _sample()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    svg, note = draw.svg(nodes, edges)
    assert note == draw.FALLBACK_NOTE
    root = xml_of(svg)
    assert len(root.findall("{http://www.w3.org/2000/svg}g")) == len(nodes)
    mx = xml_of(to_drawio(nodes, edges))  # positions from the fallback layout
    assert len(mx.findall("diagram/mxGraphModel/root/mxCell")) > len(nodes)


def test_the_report_keeps_only_drawing_elements_of_a_stored_svg():
    from reports.svg import sanitize

    planted = (
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)'
        '</script><g fill="url(http://x/)"><text x="1">sw1</text></g>'
        '<foreignObject><div>x</div></foreignObject><image href="http://x/a.png"/></svg>'
    )
    clean = sanitize(planted)
    assert clean is not None and "sw1" in clean
    for bad in ("onload", "script", "url(", "foreignObject", "image", "http://x"):
        assert bad not in clean
    assert sanitize('<!DOCTYPE svg [<!ENTITY a "b">]><svg/>') is None
    assert sanitize("<html/>") is None and sanitize("not xml") is None


def test_snmp_tables_map_lldp_port_numbers_and_bridge_ports_to_names():
    from agent.topology import snmp
    from lab.snmp_tables import rows

    view = {
        "neighbors": [{"local_port": "Ethernet1/49", "name": "dist-sw1", "port": "Ethernet49",
                       "chassis": "00:1c:73:aa:bb:cc", "mgmt_ip": "198.18.0.5",
                       "platform": "EOS", "capabilities": "B", "cdp": False}],
        "macs": [{"mac": "00:1b:21:01:02:03", "vlan": 1, "port": "Ethernet1/2"},
                 {"mac": "00:1b:21:01:02:04", "vlan": 1, "port": "Ethernet1/49"}],
        "arp": [{"ip": "198.18.0.50", "mac": "00:1b:21:01:02:03", "vlan": 1}],
    }  # fmt: skip
    served = rows(view)

    def walker(base: str) -> dict:
        prefix = tuple(int(x) for x in base.split("."))
        out = {}
        for oid, (kind, value) in served.items():
            if oid[: len(prefix)] == prefix:
                out[oid[len(prefix):]] = (int(value) if kind == "integer" else
                                          bytes.fromhex(value) if kind == "octet" else
                                          value.encode())  # fmt: skip
        return out

    facts = snmp.collect_snmp("core-sw1", "198.18.0.4", None, walker=walker)
    # LLDP port 2 is ifIndex 10102: the neighbour lands on the port's name, not "ifIndex2".
    assert [(n.local_port, n.name, n.port, n.chassis, n.mgmt_ip, n.capabilities)
            for n in facts.neighbors] == [("Ethernet1/49", "dist-sw1", "Ethernet49",
                                           "00:1c:73:aa:bb:cc", "198.18.0.5", "B")]  # fmt: skip
    assert [(m.mac, m.vlan, m.port) for m in facts.mac_table] == [
        ("00:1b:21:01:02:03", 1, "Ethernet1/2"),
        ("00:1b:21:01:02:04", 1, "Ethernet1/49"),
    ]
    assert [(a.ip, a.mac, a.interface) for a in facts.arp] == [
        ("198.18.0.50", "00:1b:21:01:02:03", "Vlan1")
    ]


def test_the_simulated_cli_tables_of_the_lab_wiring_parse_back_into_it():
    """Without a lab: the small site's hosts, its wiring, each switch's CLI output in its own
    platform layout, parsed by the real templates, built: the wiring comes back."""
    from agent.topology import parsers
    from lab import topology, wiring
    from lab.simulators import neighbors

    taken: set[str] = set()
    hosts = []
    for spec in topology.small_hosts():
        entry = {
            "name": spec.name,
            "ip": spec.ip,
            "platform": spec.platform,
            "subnet": spec.subnet,
            "other_ips": [],
            "other_macs": [],
            "mac": topology.mac_for("kt000001", spec.name, spec.vendor, taken),
        }
        if spec.name == wiring.ROUTER:
            entry["other_ips"] = [topology.ROUTER_ROUTED_IP]
            entry["other_macs"] = [topology.mac_for("kt000001", "gw-routed", spec.vendor, taken)]
        hosts.append(entry)
    manifest = {"hosts": hosts, "wiring": wiring.plan(hosts)}
    facts = []
    for switch, view in wiring.switch_views(manifest).items():
        host = next(h for h in hosts if h["name"] == switch)
        platform = host["platform"]
        fact = DeviceFacts(switch, host["ip"], platform)
        commands = parsers.COMMANDS[platform]
        if "cdp" in commands:
            fact.neighbors += parsers.parse_neighbors(
                platform, "cdp", neighbors.cdp_detail(platform, view)
            )
        fact.neighbors += parsers.parse_neighbors(
            platform, "lldp", neighbors.lldp_detail(platform, view)
        )
        fact.mac_table = parsers.parse_macs(platform, neighbors.mac_table(platform, view))
        fact.arp = parsers.parse_arp(platform, neighbors.ip_arp(platform, view))
        facts.append(fact)  # fmt: skip
    doc = build(facts, subnets=["198.18.0.0/24", "198.18.1.0/24"]).to_json()
    by_name = {h["name"]: h for h in hosts}
    assert {h["mac"]: (h["device"], h["port"], h["vlan"]) for h in doc["hosts"]} == {
        by_name[n]["mac"]: tuple(w) for n, w in manifest["wiring"]["access"].items()
    }
    assert sorted(link["key"] for link in doc["links"]) == sorted(
        " -- ".join(sorted([f"{a}:{ap}", f"{b}:{bp}"])) for a, ap, b, bp in wiring.LINKS
    )
    assert {s["gateway_device"] for s in doc["subnets"]} == {wiring.ROUTER}
    assert all(h["ip"] for h in doc["hosts"])  # every placed host named by a switch's ARP


def test_snmp_cdp_cache_and_plain_bridge_table():
    from agent.core.secret import Secret
    from agent.topology import snmp

    tables = {
        snmp.IF_NAME: {(10101,): b"Gi1/0/1", (10124,): b"Gi1/0/24"},
        snmp.BASE_PORT_IFINDEX: {(1,): 10101, (24,): 10124},
        # dot1dTpFdbPort as Cisco answers community@vlan: indexed VLAN . MAC here.
        snmp.FDB_PORT: {(10, 0, 0x1B, 0x21, 1, 2, 3): 1, (10, 0, 0x1B, 0x21, 1, 2, 4): 99},
        # cdpCacheTable: column . ifIndex . deviceIndex
        snmp.CDP_CACHE: {(4, 10124, 1): bytes([198, 18, 0, 4]), (6, 10124, 1): b"core-sw1(SN)",
                         (7, 10124, 1): b"Ethernet1/5", (8, 10124, 1): b"N9K-C93180YC-EX",
                         (9, 10124, 1): bytes([0, 0, 0, 0x29])},
    }  # fmt: skip
    facts = snmp.collect_snmp(
        "sw", "198.18.0.8", Secret("x"), walker=lambda base: tables.get(base, {})
    )
    assert [(m.mac, m.vlan, m.port) for m in facts.mac_table] == [
        ("00:1b:21:01:02:03", 10, "GigabitEthernet1/0/1")
    ]  # bridge port 99 is unknown
    [cdp] = facts.neighbors
    assert (cdp.protocol, cdp.local_port, cdp.name, cdp.port, cdp.mgmt_ip, cdp.capabilities) == (
        "cdp",
        "GigabitEthernet1/0/24",
        "core-sw1",
        "Ethernet1/5",
        "198.18.0.4",
        "R",
    )
