# ruff: noqa: E501 - recorded nmap XML and rule cases read best one per line
"""Pure logic of discovery: the classification rule table, nmap XML import (recorded-style XML
for devices the lab cannot fake, since every lab host shares this kernel and looks Linux to
OS detection), port lists, and the run-to-run diff on a real in-memory store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.core.errors import ConfigError, OperationFailed, UsageError
from agent.discovery import classify, nmapscan
from agent.discovery.model import Host, Port
from inventory import hosts as inventory_hosts
from inventory.store import Store
from tests.conftest import KEYTURN

SCAN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sS -sV -O -oX scan.xml 10.20.0.0/24" start="1700000000"
 startstr="Tue Nov 14 22:13:20 2023" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>
<verbose level="0"/><debugging level="0"/>
<host starttime="1700000001" endtime="1700000020"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.30" addrtype="ipv4"/>
<address addr="3C:D9:2B:11:22:33" addrtype="mac" vendor="Hewlett Packard"/>
<hostnames><hostname name="prn-2f.acme.local" type="PTR"/></hostnames>
<ports><extraports state="closed" count="997"><extrareasons reason="reset" count="997"/></extraports>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="HP LaserJet 4250 printer http config" devicetype="printer" method="probed" conf="10"/>
<script id="http-title" output="HP LaserJet 4250 / 10.20.0.30"/></port>
<port protocol="tcp" portid="515"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="printer" method="table" conf="3"/></port>
<port protocol="tcp" portid="9100"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="jetdirect" method="table" conf="3"/></port>
</ports>
<os><portused state="open" proto="tcp" portid="80"/>
<osmatch name="HP LaserJet 4250 printer" accuracy="100" line="33210">
<osclass type="printer" vendor="HP" osfamily="embedded" accuracy="100"><cpe>cpe:/h:hp:laserjet_4250</cpe></osclass>
</osmatch></os>
<times srtt="500" rttvar="100" to="100000"/>
</host>
<host starttime="1700000001" endtime="1700000020"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.2" addrtype="ipv4"/>
<address addr="00:1E:BD:44:55:66" addrtype="mac" vendor="Cisco Systems"/>
<hostnames/>
<ports><extraports state="closed" count="998"><extrareasons reason="reset" count="998"/></extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="255"/>
<service name="ssh" product="Cisco SSH" version="1.25" extrainfo="protocol 2.0" ostype="IOS" method="probed" conf="10"/></port>
<port protocol="tcp" portid="23"><state state="open" reason="syn-ack" reason_ttl="255"/>
<service name="telnet" product="Cisco router telnetd" ostype="IOS" method="probed" conf="10"/></port>
</ports>
<os><portused state="open" proto="tcp" portid="22"/>
<osmatch name="Cisco Catalyst 2960 switch (IOS 12.2)" accuracy="98" line="18000">
<osclass type="switch" vendor="Cisco" osfamily="IOS" osgen="12.X" accuracy="98"><cpe>cpe:/o:cisco:ios:12.2</cpe></osclass>
</osmatch>
<osmatch name="Cisco 2811 router" accuracy="90" line="17000">
<osclass type="router" vendor="Cisco" osfamily="IOS" osgen="12.X" accuracy="90"/>
</osmatch></os>
</host>
<host><status state="down" reason="no-response" reason_ttl="0"/><address addr="10.20.0.3" addrtype="ipv4"/></host>
<runstats><finished time="1700000030" timestr="Tue Nov 14 22:13:50 2023" summary="" elapsed="30.00" exit="success"/>
<hosts up="2" down="254" total="256"/></runstats>
</nmaprun>
"""


@pytest.fixture
def scan_xml(tmp_path: Path) -> Path:
    path = tmp_path / "scan.xml"
    path.write_text(SCAN_XML)
    return path


def test_xml_import_parses_os_ports_names(scan_xml: Path):
    found, errors = nmapscan.import_xml(scan_xml)
    assert errors == [] and sorted(found) == ["10.20.0.2", "10.20.0.30"]
    printer, switch = found["10.20.0.30"], found["10.20.0.2"]
    assert printer.os == {
        "name": "HP LaserJet 4250 printer", "accuracy": 100, "type": "printer",
        "vendor": "HP", "family": "embedded",
    }  # fmt: skip
    assert printer.open_ports() == {80, 515, 9100}
    assert printer.hostnames == ["prn-2f.acme.local"]
    assert printer.http_title == "HP LaserJet 4250 / 10.20.0.30"
    assert switch.mac == "00:1e:bd:44:55:66"
    assert switch.os["type"] == "switch" and switch.os["accuracy"] == 98
    ssh = next(p for p in switch.ports if p.port == 22)
    assert (ssh.product, ssh.version) == ("Cisco SSH", "1.25 protocol 2.0")


def test_imported_printer_and_switch_classified(scan_xml: Path):
    found, _ = nmapscan.import_xml(scan_xml)
    printer = classify.classify(found["10.20.0.30"])
    switch = classify.classify(found["10.20.0.2"])
    assert (printer.device_class, printer.platform, printer.rule) == ("printer", None, "printer-os")
    assert (switch.device_class, switch.platform) == ("switch", "cisco_ios")


def test_import_nmap_cli_stores_a_discover_run(scan_xml: Path, cli_env: dict[str, str]):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KEYTURN, "discover", "--import-nmap", str(scan_xml), *args, "--json", "-"],
            env=cli_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    first = run()
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    classes = {h["ip"]: (h["device_class"], h["sources"]) for h in document["hosts"]}
    assert classes == {
        "10.20.0.2": ("switch", ["nmap"]), "10.20.0.30": ("printer", ["nmap"]),
    }  # fmt: skip
    assert document["hosts"][0]["vendor"] == "Cisco Systems, Inc"  # from the OUI registry
    # With a scope, hosts outside it stay out, and the diff says the printer is gone.
    second = run("--scope", "10.20.0.0/28")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert [h["ip"] for h in again["hosts"]] == ["10.20.0.2"]
    assert "10.20.0.30 in the imported scan is outside the scope: left out" in again["notes"]
    assert again["diff"]["previous_run_id"] == document["run_id"] and again["diff"]["gone"] == []
    with Store(cli_env["KEYTURN_STORE"]) as store:
        assert [r.command for r in store.runs()] == ["discover", "discover"]
        assert inventory_hosts.document(store, document["run_id"])["hosts"] == document["hosts"]
        rows = store.db.execute("SELECT port FROM services WHERE run_id = ? ORDER BY port",
                                (document["run_id"],)).fetchall()  # fmt: skip
        assert [r[0] for r in rows] == [22, 23, 80, 515, 9100]


FIREWALLED_LINUX_XML = """<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="nmap -sV -O 10.20.0.9" start="1700000000" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="1000" services="1-1000"/>
<host><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.9" addrtype="ipv4"/>
<ports><extraports state="filtered" count="999"><extrareasons reason="no-response" count="999"/></extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="ssh" product="OpenSSH" version="9.2p1 Debian 2+deb12u3" extrainfo="protocol 2.0" ostype="Linux" method="probed" conf="10">
<cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service></port>
</ports>
<os><portused state="open" proto="tcp" portid="22"/></os>
</host>
<runstats><finished time="1700000030" elapsed="30.00" exit="success"/><hosts up="1" down="0" total="1"/></runstats>
</nmaprun>
"""


def test_os_from_the_service_banner_when_os_detection_matched_nothing(tmp_path: Path):
    """A router whose input policy drops -O's probes still names its OS in its SSH banner:
    the host is a Linux server by the banner, with no accuracy claimed."""
    path = tmp_path / "scan.xml"
    path.write_text(FIREWALLED_LINUX_XML)
    found, _ = nmapscan.import_xml(path)
    host = found["10.20.0.9"]
    assert host.os == {
        "name": "Linux kernel", "accuracy": None, "type": None, "vendor": "Linux", "family": None,
    }  # fmt: skip
    verdict = classify.classify(host)
    assert (verdict.device_class, verdict.platform, verdict.rule) == (
        "server",
        "linux",
        "linux-ssh",
    )


def test_near_tie_in_os_detection_settled_by_the_service_banner():
    """nmap's fingerprint put the lab's Linux router at "HP P2000 G3 NAS device" 93 one run
    and "Linux 5.3 - 5.4" 94 the next; its SSH banner says Linux. A clear winner stands."""
    nas = {
        "name": "HP P2000 G3 NAS device",
        "accuracy": "93",
        "osclass": [
            {"type": "storage-misc", "vendor": "HP", "osfamily": "embedded", "accuracy": "93"}
        ],
    }
    linux = {
        "name": "Linux 5.3 - 5.4",
        "accuracy": "92",
        "osclass": [
            {"type": "general purpose", "vendor": "Linux", "osfamily": "Linux", "accuracy": "92"}
        ],
    }
    banner = {
        "name": "Linux kernel",
        "accuracy": None,
        "type": None,
        "vendor": "Linux",
        "family": None,
    }
    assert nmapscan.best_os([nas, linux], banner)["name"] == "Linux 5.3 - 5.4"
    far = {**linux, "accuracy": "85"}
    assert nmapscan.best_os([nas, far], banner)["name"] == "HP P2000 G3 NAS device"
    assert nmapscan.best_os([nas, far], banner)["type"] == "storage-misc"
    assert nmapscan.best_os([], banner) is None


def _osmatch(name: str, accuracy: int, kind: str, vendor: str = "Linux") -> dict:
    osclass = {"type": kind, "vendor": vendor, "osfamily": "Linux", "accuracy": str(accuracy)}
    return {"name": name, "accuracy": str(accuracy), "osclass": [osclass]}


def test_near_ties_of_different_device_types_claim_no_device_type():
    """CI saw a lab workstation (Linux, SMB only, a Dell MAC) come out an access point: under
    load its fingerprint ranked an AP's Linux first, a point above the PCs' Linux, and the
    os-wap rule (68) outweighed the SMB client's (40). Ties of different types fall back to
    the general-purpose match; with none among them, no type."""
    wap = _osmatch("Ubiquiti AirOS 5.5.9 (Linux 2.6.32)", 96, "WAP", "Ubiquiti")
    pc = _osmatch("Linux 5.3 - 5.4", 95, "general purpose")
    camera = _osmatch("AXIS 210A or 211 Network Camera (Linux 2.6.17)", 94, "webcam", "AXIS")
    seen = nmapscan.best_os([wap, pc, camera])
    assert (seen["name"], seen["type"]) == ("Linux 5.3 - 5.4", "general purpose")
    assert nmapscan.best_os([wap, camera])["type"] is None
    workstation = Host(ip="198.18.0.57", mac="00:14:22:00:00:57", vendor="Dell")
    workstation.ports = [Port(port=445, proto="tcp", state="open", service="microsoft-ds")]
    workstation.os = seen
    assert classify.classify(workstation).device_class == "workstation"
    workstation.os = nmapscan.best_os([wap, camera])
    assert classify.classify(workstation).device_class == "workstation"


def test_a_clear_device_type_in_os_detection_still_classifies():
    wap = _osmatch("Ubiquiti AirOS 5.5.9 (Linux 2.6.32)", 96, "WAP", "Ubiquiti")
    far = _osmatch("Linux 5.3 - 5.4", 90, "general purpose")
    access_point = Host(ip="198.18.0.30")
    access_point.ports = [Port(port=22, proto="tcp", state="open", service="ssh")]
    access_point.os = nmapscan.best_os([wap, far])
    assert access_point.os["type"] == "WAP"
    verdict = classify.classify(access_point)
    assert (verdict.device_class, verdict.rule) == ("access_point", "os-wap")


def test_a_scan_larger_than_the_neighbour_table_says_how_to_raise_it():
    from agent.discovery.run import neighbour_table_notes

    assert neighbour_table_notes(400, 1024) == []
    assert neighbour_table_notes(4000, None) == []  # not readable here (a child namespace)
    (note,) = neighbour_table_notes(4061, 1024)
    assert note.startswith("4061 live hosts against a kernel neighbour table of 1024 entries")
    assert "gc_thresh2=8192 net.ipv4.neigh.default.gc_thresh3=16384" in note


def test_import_of_a_file_that_is_not_nmap_xml(tmp_path: Path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<html>not a scan</html>")
    with pytest.raises(UsageError):
        nmapscan.import_xml(bad)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (Host(ip="x", snmp={"sys_descr": "Cisco Adaptive Security Appliance Version 9.8(4)",
                            "sys_object_id": "1.3.6.1.4.1.9.1.2114"}), ("firewall", "cisco_asa")),
        (Host(ip="x", snmp={"sys_descr": "Cisco NX-OS(tm) n9000", "sys_object_id": ""}),
         ("switch", "cisco_nxos")),
        (Host(ip="x", snmp={"sys_descr": "Juniper Networks, Inc. srx300 internet router, "
                            "kernel JUNOS 20.4R3 SRX300", "sys_object_id": "1.3.6.1.4.1.2636.1.1.1.2.133"}),
         ("firewall", "juniper_junos")),
        (Host(ip="x", snmp={"sys_descr": "Arista Networks EOS version 4.28",
                            "sys_object_id": "1.3.6.1.4.1.30065.1.3011"}), ("switch", "arista_eos")),
        (Host(ip="x", snmp={"sys_descr": "Linux nas 4.4.180+ #42962 SMP",
                            "sys_object_id": ".1.3.6.1.4.1.6574.1"}), ("nas", "synology_dsm")),
        (Host(ip="x", vendor="Polycom", ports=[Port(5060)]), ("voip", None)),
        (Host(ip="x", ports=[Port(443), Port(902)], http_title="VMware ESXi"), ("hypervisor", None)),
        (Host(ip="x", vendor="Routerboard.com", ports=[Port(22, product="MikroTik RouterOS sshd")]),
         ("router", "mikrotik_routeros")),
        (Host(ip="x", ports=[Port(88), Port(389), Port(445), Port(135)],
              os={"name": "Microsoft Windows Server 2019", "type": "general purpose"}),
         ("server", None)),
        (Host(ip="x", ports=[Port(135), Port(445)]), ("workstation", None)),
        (Host(ip="x"), ("unknown", None)),
    ],
)  # fmt: skip
def test_rule_table(host: Host, expected: tuple[str, str | None]):
    result = classify.classify(host)
    assert (result.device_class, result.platform) == expected, result.rule


def test_more_specific_evidence_wins():
    # A Cisco OUI alone says "switch"; the SNMP description of an ASA outranks it.
    host = Host(ip="x", vendor="Cisco Systems, Inc", ports=[Port(22, product="Cisco SSH")])
    assert classify.classify(host).platform == "cisco_ios"
    host.snmp = {"sys_descr": "Cisco Adaptive Security Appliance", "sys_object_id": None}
    result = classify.classify(host)
    assert (result.device_class, result.platform, result.confidence) == (
        "firewall", "cisco_asa", 0.97,
    )  # fmt: skip


def test_rules_file_is_validated(tmp_path: Path):
    extra = tmp_path / "rules.toml"
    extra.write_text('[[rule]]\nid = "badge"\nclass = "door"\nscore = 99\nvendor = "HID"\n')
    with pytest.raises(ConfigError, match="badge"):
        classify.load_rules(extra)
    extra.write_text('[[rule]]\nid = "x"\nclass = "printer"\nvendr = "HID"\n')
    with pytest.raises(ConfigError, match="vendr"):
        classify.load_rules(extra)
    extra.write_text('[[rule]]\nid = "hid"\nclass = "server"\nscore = 99\nvendor = "HID"\n')
    (rule,) = classify.load_rules(extra)
    assert classify.classify(Host(ip="x", vendor="HID Global"), [rule]).device_class == "server"


def _snmp(**values: str) -> Host:
    return Host(ip="x", snmp=values)


def test_standard_mibs_classify_a_vendor_no_rule_names():
    # An enterprise number no rule knows (Frogfoot Networks): the standard MIBs decide.
    oid = "1.3.6.1.4.1.10002.1"
    bridge = classify.classify(_snmp(sys_object_id=oid, bridge_ports="26", hr_system_uptime=""))
    assert (bridge.device_class, bridge.rule) == ("switch", "std-bridge")
    assert bridge.evidence == ("bridge", "host_resources")
    assert bridge.oid_vendor == "Frogfoot Networks" and bridge.platform is None
    router = classify.classify(
        _snmp(sys_object_id=oid, ip_forwarding="1", bridge_ports="", hr_system_uptime="")
    )
    assert router.device_class == "router"
    host = classify.classify(_snmp(sys_object_id=oid, ip_forwarding="1", hr_system_uptime="42"))
    assert host.device_class == "server"  # a forwarding Linux box with HOST-RESOURCES is a host
    layer2 = classify.classify(_snmp(sys_object_id=oid, sys_services="2"))
    assert layer2.device_class == "switch"
    # Not asked (an older record) is not the same as answered-empty: no bridge claim.
    assert classify.classify(_snmp(sys_object_id=oid)).device_class == "other"


def test_a_catalyst_3550_is_a_switch_and_a_router_image_a_router():
    c3550 = classify.classify(_snmp(
        sys_descr="Cisco Internetwork Operating System Software \nIOS (tm) C3550 Software "
        "(C3550-I5Q3L2-M), Version 12.1(20)EA1a, RELEASE SOFTWARE (fc1)",
        sys_object_id="1.3.6.1.4.1.9.1.367"))  # fmt: skip
    assert (c3550.device_class, c3550.platform) == ("switch", "cisco_ios")
    isr = classify.classify(_snmp(
        sys_descr="Cisco IOS Software, 3800 Software (C3825-ADVIPSERVICESK9-M), Version 15.1(4)M10",
        sys_object_id="1.3.6.1.4.1.9.1.543"))  # fmt: skip
    assert (isr.device_class, isr.platform) == ("router", "cisco_ios")
    # A Cisco OID alone names the maker, not the OS: no platform, no network class.
    cimc = classify.classify(_snmp(
        sys_descr="Cisco Integrated Management Controller(Cisco IMC) BE6K-M6-K9",
        sys_object_id="1.3.6.1.4.1.9.1.3100"))  # fmt: skip
    assert (cimc.device_class, cimc.platform) == ("bmc", None)


def test_a_platform_rule_without_class_follows_the_class_evidence():
    # RouterOS names the platform; "CRS" (Cloud Router Switch) makes it a switch.
    crs = classify.classify(_snmp(sys_descr="RouterOS CRS317-1G-16S+",
                                  sys_object_id="1.3.6.1.4.1.14988.1"))  # fmt: skip
    assert (crs.device_class, crs.platform, crs.rule) == (
        "switch",
        "mikrotik_routeros",
        "mikrotik-crs",
    )
    assert crs.confidence == 0.96 and "sys_descr" in crs.evidence


def test_enterprise_numbers_and_sys_services():
    assert classify.enterprise_of(".1.3.6.1.4.1.9.1.1208") == 9
    assert classify.enterprise_of("1.3.6.1.4.1.41112") == 41112
    assert classify.enterprise_of("1.3.6.1.2.1.1") is None
    assert classify.enterprise_of("1.3.6.1.4.1.x.1") is None
    assert classify.enterprises()[9] == "ciscoSystems"
    assert classify._layers("78") == {2, 3, 4, 7}
    assert classify._layers("bogus") is None and classify._layers("300") is None


def test_rule_outcome_and_regex_are_checked(tmp_path: Path):
    extra = tmp_path / "rules.toml"
    extra.write_text('[[rule]]\nid = "nothing"\nscore = 50\nvendor = "HID"\n')
    with pytest.raises(ConfigError, match="nothing"):
        classify.load_rules(extra)
    extra.write_text('[[rule]]\nid = "paren"\nclass = "iot"\nsys_descr = "("\n')
    with pytest.raises(ConfigError, match="paren"):
        classify.load_rules(extra)
    # The class vocabulary is an argument: a caller may narrow it.
    extra.write_text('[[rule]]\nid = "cam"\nclass = "camera"\nvendor = "Axis"\n')
    assert classify.load_rules(extra)[0].device_class == "camera"
    with pytest.raises(ConfigError, match="cam"):
        classify.load_rules(extra, classes=("switch", "unknown"))


def test_every_shipped_rule_loads_with_a_known_class():
    rules = classify.default_rules()
    assert len(rules) > 40 and len({r.id for r in rules}) == len(rules)


def test_port_lists():
    assert nmapscan.port_args("top100") == "--top-ports 100"
    assert nmapscan.port_args("22, 80,9100-9102") == "-p 22,80,9100-9102"
    for bad in ("22;rm -rf /", "-oX x", "70000", ""):
        with pytest.raises(UsageError):
            nmapscan.port_args(bad)


def _doc(run_id: int, hosts: list[dict], scope=("10.0.0.0/24",), ports="top100") -> dict:
    return {"run_id": run_id, "scope": list(scope), "exclude": [], "ports": ports, "hosts": hosts}


def _host(ip: str, mac: str | None, ports=(), cls="server", names=()) -> dict:
    return Host(
        ip=ip, mac=mac, ports=[Port(p) for p in ports], device_class=cls, hostnames=list(names)
    ).to_json()


def test_diff_and_store_rows():
    old = _doc(1, [_host("10.0.0.1", "00:00:0c:00:00:01", [22]), _host("10.0.0.2", "aa:00:00:00:00:02"),
                   _host("10.0.0.3", None, [80], names=["web"])])  # fmt: skip
    new = _doc(2, [_host("10.0.0.1", "00:00:0c:00:00:09", [22, 443], cls="router"),
                   _host("10.0.0.3", None, [80], names=["web2"]), _host("10.0.0.4", None),
                   _host("10.9.0.1", None)], scope=("10.0.0.0/24", "10.9.0.0/24"))  # fmt: skip
    diff = inventory_hosts.diff(old, new)
    assert [h["ip"] for h in diff["new"]] == ["10.0.0.4"]  # 10.9.0.1 was not in the old scope
    assert [h["ip"] for h in diff["gone"]] == ["10.0.0.2"]
    assert diff["mac_changed"] == [
        {"ip": "10.0.0.1", "old": "00:00:0c:00:00:01", "new": "00:00:0c:00:00:09"}
    ]
    changed = {c["ip"]: c for c in diff["changed"]}
    assert changed["10.0.0.1"]["ports"] == {"added": ["443/tcp"], "removed": []}
    assert changed["10.0.0.1"]["class"] == {"old": "server", "new": "router"}
    assert changed["10.0.0.3"] == {
        "ip": "10.0.0.3",
        "names": {"added": ["web2"], "removed": ["web"]},
    }
    # A sweep-only run saw no ports: no port changes claimed.
    swept = _doc(3, [_host("10.0.0.1", "00:00:0c:00:00:09")], ports=None)
    assert "ports" not in inventory_hosts.diff(new, swept)["changed"][0]

    with Store(":memory:") as store:
        for doc in (old, new):
            with store.run("discover", "tester") as run_id:
                doc["run_id"] = run_id
                inventory_hosts.save(store, run_id, doc)
        assert inventory_hosts.previous_document(store)["run_id"] == new["run_id"]
        assert inventory_hosts.previous_document(store, before=new["run_id"]) == old
        rows = store.db.execute("SELECT mac, ip, first_run, last_run FROM hosts ORDER BY id")
        assert [tuple(r) for r in rows] == [
            ("00:00:0c:00:00:01", "10.0.0.1", 1, 1), ("aa:00:00:00:00:02", "10.0.0.2", 1, 1),
            (None, "10.0.0.3", 1, 2), ("00:00:0c:00:00:09", "10.0.0.1", 2, 2),
            (None, "10.0.0.4", 2, 2), (None, "10.9.0.1", 2, 2),
        ]  # fmt: skip


def test_sweep_plan_follows_the_routing_table():
    from ipaddress import IPv4Address, IPv4Network

    from agent.core.scope import ScopeGuard
    from agent.discovery.interfaces import Interface, Route
    from agent.discovery.plan import plan_sweep

    eth0 = Interface(
        "eth0", "02:00:00:00:00:01", IPv4Address("10.0.0.250"), IPv4Network("10.0.0.0/16")
    )
    eth1 = Interface(
        "eth1", "02:00:00:00:00:02", IPv4Address("10.0.0.251"), IPv4Network("10.0.0.0/16")
    )
    table = [
        Route(IPv4Network("10.0.1.0/24"), "eth0", IPv4Address("10.0.0.1")),  # more specific, routed
        Route(IPv4Network("10.0.0.0/16"), "eth0", None),
    ]
    guard = ScopeGuard(["10.0.0.0/30", "10.0.1.0/30", "192.168.9.0/31"], ["10.0.0.2"])
    local, routed, unreachable = plan_sweep(guard, [eth0], table, None)
    # .2 excluded, .0/.3 not hosts; ARP targets are integers
    assert [str(IPv4Address(a)) for a in local["eth0"][1]] == ["10.0.0.1"]
    assert [str(a) for a in routed] == ["10.0.1.1", "10.0.1.2"]
    assert [str(a) for a in unreachable] == ["192.168.9.0", "192.168.9.1"]
    both = [*table, Route(IPv4Network("10.0.0.0/16"), "eth1", None)]
    with pytest.raises(UsageError, match="eth0, eth1"):
        plan_sweep(guard, [eth0, eth1], both, None)
    local, _, _ = plan_sweep(guard, [eth0, eth1], both, "eth1")
    assert list(local) == ["eth1"]


def test_arp_request_template_is_what_scapy_builds():
    from ipaddress import IPv4Address, IPv4Network

    from scapy.layers.l2 import ARP, Ether

    from agent.discovery.arp import TPA_OFFSET, template_request
    from agent.discovery.interfaces import Interface

    iface = Interface(
        "eth0", "02:1a:2b:3c:4d:5e", IPv4Address("10.0.0.250"), IPv4Network("10.0.0.0/24")
    )
    ours = template_request(iface)
    frame = Ether(dst="ff:ff:ff:ff:ff:ff", src=iface.mac) / ARP(
        op=1, hwsrc=iface.mac, psrc="10.0.0.250", hwdst="00:00:00:00:00:00", pdst="0.0.0.0"
    )
    assert ours == bytes(frame)[:42]
    patched = bytearray(ours)
    patched[TPA_OFFSET : TPA_OFFSET + 4] = IPv4Address("10.0.0.7").packed
    assert Ether(bytes(patched))[ARP].pdst == "10.0.0.7"


def test_mac_vendor_agrees_with_netaddr():
    import random

    import netaddr
    from netaddr.eui import ieee

    from agent.discovery.names import vendor

    # Read from netaddr's index without netaddr's parser: the same organisation for every OUI.
    keys = random.Random(7).sample(sorted(ieee.OUI_INDEX), 500)
    for key in keys:
        mac = ":".join(f"{b:02x}" for b in key.to_bytes(3, "big")) + ":12:34:56"
        assert vendor(mac) == netaddr.OUI(key).registration().org, mac
    assert vendor("00:1B:21:00:00:01") == "Intel Corporate"  # case of the MAC does not matter
    assert vendor("ff:ff:fe:00:00:01") is None  # not registered
    assert vendor("not-a-mac") is None
    assert vendor(None) is None


def test_every_enterprise_a_rule_names_is_in_the_shipped_registry():
    import tomllib

    table = classify.enterprises()
    assert len(table) > 400 and table[2636] == "Juniper Networks, Inc."
    rules = tomllib.loads(classify.RULES_FILE.read_text(encoding="utf-8"))["rule"]
    named = {n for r in rules for n in r.get("enterprise", [])}
    named |= {
        classify.enterprise_of(p.rstrip("."))
        for r in rules
        for p in r.get("sys_object_id", [])
        if classify.enterprise_of(p.rstrip("."))
    }
    # Dahua answers with a number IANA never assigned; the rule says so by naming it.
    assert named - set(table) == {1004849}


def test_stopping_nmap_from_a_signal_handler_never_waits_for_the_start_lock():
    """A SIGTERM's handler runs in the main thread, perhaps while that thread holds the lock
    that starts an nmap: stop_all must not take it (a discover hung there for good)."""
    import threading

    def handler_inside_a_start() -> None:
        with nmapscan._lock:  # the main thread starting an nmap when the signal lands
            nmapscan.stop_all()

    worker = threading.Thread(target=handler_inside_a_start, daemon=True)
    try:
        worker.start()
        worker.join(5)
        assert not worker.is_alive()
        with pytest.raises(OperationFailed, match="interrupted"):
            nmapscan._run_stoppable(["true"])
    finally:
        nmapscan.allow()
