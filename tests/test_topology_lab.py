"""`keyturn topology` against the lab: the simulated switches answer CDP/LLDP, MAC-table and
ARP commands as the manifest's wiring says, and the diagram must equal that wiring."""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from lab.wiring import ROUTER, move_host

KEYTURN = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "keyturn")


def xml_of(text: str) -> ET.Element:
    """keyturn's own export, parsed to prove it is well-formed XML."""
    return ET.fromstring(text)  # noqa: S314 - our output, in a test


def topology(lab, env, out: Path, *extra: str) -> tuple[dict, float]:
    json_file = out / "topology.json"
    started = time.monotonic()
    result = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "topology", "--json", str(json_file), "--out", str(out),
         *extra],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    return json.loads(json_file.read_text()), seconds


def test_the_lab_diagram_equals_the_manifest_wiring(lab, lab_cli_env, tmp_path):
    manifest = lab.manifest
    hosts = {h["name"]: h for h in manifest["hosts"]}
    wiring = manifest["wiring"]
    doc, seconds = topology(
        lab,
        lab_cli_env,
        tmp_path / "one",
        "--format",
        "svg",
        "--format",
        "drawio",
        "--format",
        "dot",
        "--format",
        "graphml",
    )
    stats = doc["stats"]
    print(
        f"lab topology: {seconds:.2f} s wall (collect {stats['collect_seconds']} s, "
        f"draw {stats['draw_seconds']} s), {len(doc['devices'])} devices, "
        f"{len(doc['links'])} links, {len(doc['hosts'])} hosts"
    )
    # Every wired host on its switch and port.
    placed = {h["mac"]: (h["device"], h["port"], h["vlan"]) for h in doc["hosts"]}
    for name, (switch, port, vlan) in wiring["access"].items():
        assert placed.get(hosts[name]["mac"]) == (switch, port, vlan), name
    # Every inter-switch and router link, with both ports, confirmed by a neighbour protocol.
    found = {link["key"]: link for link in doc["links"]}
    for a, a_port, b, b_port in wiring["links"]:
        key = " -- ".join(sorted([f"{a}:{a_port}", f"{b}:{b_port}"]))
        assert key in found, key
        assert found[key]["kind"] == "confirmed"
    assert len(doc["links"]) == len(wiring["links"])
    cisco = " -- ".join(sorted(["access-sw1:GigabitEthernet1/0/49", "dist-sw1:Ethernet50"]))
    assert found[cisco]["protocols"] == ["lldp"]  # EOS speaks no CDP
    # The router between the two subnets is the gateway of both.
    gateways = {s["cidr"]: (s["gateway"], s["gateway_device"]) for s in doc["subnets"]}
    assert gateways == {"198.18.0.0/24": ("198.18.0.1", ROUTER),
                        "198.18.1.0/24": ("198.18.1.1", ROUTER)}  # fmt: skip
    # ARP from the switches names each placed host's address.
    by_mac = {h["mac"]: h for h in doc["hosts"]}
    assert by_mac[hosts["ws20"]["mac"]]["ip"] == hosts["ws20"]["ip"]
    assert doc["svg_note"] == "" and "<svg" in (tmp_path / "one" / "topology.svg").read_text()
    # The exports open: draw.io XML, GraphML, and the dot file renders.
    mx = xml_of((tmp_path / "one" / "topology.drawio").read_text())
    assert mx.tag == "mxfile" and mx.find("diagram/mxGraphModel/root") is not None
    xml_of((tmp_path / "one" / "topology.graphml").read_text())
    rendered = subprocess.run(["dot", "-Tsvg", str(tmp_path / "one" / "topology.dot")],
                              capture_output=True, timeout=60, check=False)  # fmt: skip
    assert rendered.returncode == 0 and b"<svg" in rendered.stdout

    # A host re-cabled to another port shows as moved in the next run.
    switch, port, vlan = wiring["access"]["ws03"]
    move_host(lab, "ws03", switch, "GigabitEthernet1/0/40", vlan)
    try:
        second, _ = topology(lab, lab_cli_env, tmp_path / "two")
    finally:
        move_host(lab, "ws03", switch, port, vlan)
    [moved] = second["diff"]["hosts_moved"]
    assert moved["mac"] == hosts["ws03"]["mac"]
    assert (moved["from"]["port"], moved["to"]["port"]) == (port, "GigabitEthernet1/0/40")
    assert second["diff"]["links_added"] == second["diff"]["links_removed"] == []


def test_over_snmp_the_same_wiring_with_lldp_port_numbers_mapped(lab, lab_cli_env, tmp_path):
    # The switches' snmpd serve LLDP-MIB, Q-BRIDGE-MIB, ifName and ARP from the same wiring,
    # with LLDP local port numbers that are not ifIndexes (lab/snmp_tables.py).
    manifest = lab.manifest
    hosts = {h["name"]: h for h in manifest["hosts"]}
    wiring = manifest["wiring"]
    doc, seconds = topology(lab, lab_cli_env, tmp_path, "--source", "snmp")
    print(
        f"lab topology over SNMP: {seconds:.2f} s wall "
        f"(collect {doc['stats']['collect_seconds']} s)"
    )
    assert {f["source"] for f in doc["facts"]} == {"snmp"}
    placed = {h["mac"]: (h["device"], h["port"], h["vlan"]) for h in doc["hosts"]}
    for name, (switch, port, vlan) in wiring["access"].items():
        assert placed.get(hosts[name]["mac"]) == (switch, port, vlan), name
    found = {link["key"]: link for link in doc["links"]}
    for a, a_port, b, b_port in wiring["links"]:
        key = " -- ".join(sorted([f"{a}:{a_port}", f"{b}:{b_port}"]))
        assert found[key]["protocols"] == ["lldp"], key
    assert {s["gateway_device"] for s in doc["subnets"]} == {ROUTER}
