"""The review parsers on outputs recorded from real devices (ntc-templates fixtures, see
tests/data/review/README.md): grammar a hand-written sample would not think of.

Where a fixture is a `show` output rather than configuration, the test turns it into the
configuration lines that printed it (stated per test) and reads the same output back as
counters, so both directions meet on the device's own numbering.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import arista_eos, cisco_asa, cisco_ios, juniper_junos

NTC = Path(__file__).parent / "data" / "review" / "ntc"
DATA = Path(__file__).parent / "data" / "review"


def raw(name: str) -> str:
    return (NTC / f"{name}.raw").read_text()


# The objects ACL `test` uses, as its object-group expansion in the recorded
# `show access-list` spells them out (the fixture's running-config is not published).
ASA_OBJECTS = """\
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 192.0.2.1 255.255.255.0
object service svc1
 service icmp echo-reply 4
object network test1
 fqdn test.com
object network test2
 host 10.1.1.2
object network test3
 range 10.1.1.3 10.1.1.8
object service svc10
 service tcp destination range www 88
object-group network grptest1
 network-object host 10.1.1.10
 network-object object test1
 network-object 10.1.1.8 255.255.255.248
object-group network grptest2
 group-object grptest1
 network-object host 10.10.10.10
object-group service svcgrp1
 service-object tcp destination eq 60
 service-object tcp destination eq www
 service-object tcp destination gt 100
 service-object tcp destination range gopher 71
object-group service svcgrp4
 service-object tcp-udp destination eq domain
 service-object tcp-udp destination eq 55
object-group service svcgrp6 tcp
 port-object eq aol
 port-object eq www
 port-object eq 84
object-group service svcgrp7 tcp
 port-object eq domain
object-group service svcgrp8 tcp
 group-object svcgrp6
object-group protocol prtgrp1
 protocol-object esp
access-group test in interface outside
"""


def asa_acl_from_show(show: str) -> str:
    """`access-list test line 3 extended ... (hitcnt=0) 0x...` -> the configured line."""
    lines = []
    for line in show.splitlines():
        if not line.startswith("access-list test line"):
            continue  # the header and the indented object-group expansions
        line = re.sub(r" line \d+", "", line)
        line = re.sub(r" \(hitcnt=\d+\)| \(inactive\)| 0x[0-9a-f]+\s*$", "", line)
        lines.append(line.rstrip())
    return "\n".join(lines)


def test_asa_access_list_recorded_numbering_objects_and_counters():
    show = raw("cisco_asa_show_access-list")
    base = cisco_asa.parse(ASA_OBJECTS + asa_acl_from_show(show))
    assert base.warnings == []
    rules = [r for r in base.rules if r.table == "test"]
    ids = [r.id for r in rules if not r.implicit]
    assert ids == [f"test line {n}" for n in range(1, 15)] + ["test line 16"]  # 15 is a remark
    by_id = {r.id: r for r in rules}
    first = by_id["test line 1"]  # permit ah any4 interface outside log ... inactive
    assert not first.enabled and first.log and first.services[0].protocol == "51"
    assert first.destinations.ranges == (cidr_range("192.0.2.1"),)
    assert by_id["test line 2"].services[0].ports == ((195, 195),)  # dnsix
    assert by_id["test line 3"].approximate  # an fqdn source, an icmp type
    assert by_id["test line 5"].services[0].ports == ((60, 60),)
    assert {s.ports for s in by_id["test line 5"].services} >= {((70, 71),), ((101, 65535),)}
    assert by_id["test line 8"].services[0].ports == ((80, 80), (84, 84), (5190, 5190))
    assert by_id["test line 9"].services[0].protocol == "50"  # protocol group: esp
    cisco_asa.apply_counters(base, show + raw("cisco_asa_show_version"))
    assert all(r.hits == 0 for r in rules if not r.implicit)
    assert base.counter_baseline_seconds == 51 * 86400 + 9 * 3600


def test_asa_recorded_objects_groups_bindings_and_crypto():
    text = "\n".join(raw(n) for n in (
        "cisco_asa_show_running-config_object_network",
        "cisco_asa_show_running-config_object-group_service",
        "cisco_asa_show_running-config_access-group",
        "cisco_asa_show_running-config_crypto_ikev1",
        "cisco_asa_show_running-config_ipsec",
    ))  # fmt: skip
    asa = cisco_asa._Asa(cisco_asa.Reader("cisco_asa", ""), cisco_asa._blocks(text.splitlines()))
    asa.read()
    objects = asa.objects
    assert objects.networks["visitors"][0] == (
        (cidr_range("10.10.10.4")[0], cidr_range("10.10.10.60")[0]),
    )
    assert objects.networks["cloudflare-ipv6-dns-primary"][0] == ()  # IPv6: matches no IPv4
    assert objects.networks["fqdn_test"][1] == ("fqdn object fqdn_test",)
    assert objects.port_groups["five"] == ("tcp", ((139, 139), (445, 445)))
    three, conditions = objects.services["three"]
    assert {s.protocol for s in three} == {"udp"} and any("source" in c for c in conditions)
    assert "undefined service object alpha" in objects.services["one"][1]
    # seven bindings of ACLs the fragment does not define: each one a warning, no rule
    assert len([w for w in asa.base.warnings if "access-group binds" in w]) == 7
    proposals = {p.name: p for p in asa.base.vpn_proposals}
    assert len([n for n in proposals if n.startswith("ikev1 policy")]) == 12
    assert proposals["ikev1 policy 10"].integrity == ("md5",)
    assert proposals["ipsec ikev2 ipsec-proposal final_IKE2"].integrity == (
        "sha-512",
        "sha-1",
        "md5",
    )


def ios_config_from_show(show: str) -> str:
    """`Extended IP access list X` / `    10 permit ...` -> `ip access-list extended X` /
    ` 10 permit ...`, each list bound to an interface; show-only annotations dropped."""
    out, interfaces = [], []
    for line in show.splitlines():
        header = re.match(r"(Standard|Extended) IP access list (\S+)", line)
        if header:
            out.append(f"ip access-list {header.group(1).lower()} {header.group(2)}")
            interfaces.append(
                f"interface Gi0/{len(interfaces)}\n ip access-group {header.group(2)} in"
            )
        elif line.strip():
            entry = re.sub(r" \((?:in)?active\)", "", line.replace(", wildcard bits", ""))
            out.append(" " + entry.strip())
    return "\n".join(interfaces + out)


def test_ios_recorded_access_lists_parse_whole_and_count_back():
    show = raw("cisco_ios_show_ip_access-lists")
    base = cisco_ios.parse(ios_config_from_show(show))
    assert base.warnings == []
    entries = [r for r in base.rules if not r.implicit]
    assert len(entries) == 4 + 8 + 66  # lists 99+stdacl, 101, sample
    by_id = {r.id: r for r in entries}
    assert by_id["99 30"].approximate  # 10.0.10.0 0.255.0.255 is no single range
    multi = by_id["101 80"]  # eq telnet ssh http 8080 (source) ... neq telnet ssh
    assert "source ports" in multi.conditions[0]
    assert multi.services[0].ports == ((0, 21), (24, 65535))
    assert by_id["101 70"].services[0].protocol == "udp"
    assert by_id["sample 660"].schedule == "test2"
    cisco_ios.apply_counters(base, show)
    assert all(r.hits == 0 for r in entries)  # IOS prints no count for an unused entry


def test_eos_recorded_access_lists():
    show = raw("arista_eos_show_ip_access-lists")
    config = []
    for line in show.splitlines():
        header = re.match(r"IP Access List (\S+)", line)
        if header:
            config.append(f"ip access-list {header.group(1)}")
            config.insert(
                0, f"interface Ethernet{len(config)}\n   ip access-group {header.group(1)} in"
            )
        elif re.match(r"\s+\d+ ", line):
            config.append("   " + line.strip())
    base = arista_eos.parse("\n".join(config))
    # `tunnel` names no port this parser knows: that one entry is left out, and said so
    assert len(base.warnings) == 1 and "tunnel" in base.warnings[0]
    by_id = {r.id: r for r in base.rules}
    assert by_id["default-control-plane-acl 50"].services[0].ports == (
        (22, 23), (80, 80), (161, 161), (179, 179), (443, 443), (639, 639),
    )  # fmt: skip
    assert "ttl eq 255" in by_id["default-control-plane-acl 30"].conditions
    arista_eos.apply_counters(base, show)
    assert by_id["default-control-plane-acl 10"].hits == 0  # statistics per-entry, no match
    assert by_id["TEST_1 10"].hits is None  # not counted


def test_junos_recorded_uptime_is_the_counter_baseline():
    base = juniper_junos.parse((DATA / "juniper_junos_sample.conf").read_text())
    juniper_junos.apply_counters(base, raw("juniper_junos_show_system_uptime"))
    assert base.counter_baseline_seconds == 22 * 7 * 86400 + 19 * 3600 + 16 * 60
