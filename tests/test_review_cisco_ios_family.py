"""IOS, NX-OS and EOS semantics the review relies on (agent/review/platforms/_cisco_acl.py)."""

from __future__ import annotations

from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import arista_eos, cisco_ios, cisco_nxos

DATA = Path(__file__).parent / "data" / "review"
IOS = (DATA / "cisco_ios_sample.cfg").read_text()
NXOS = (DATA / "cisco_nxos_sample.cfg").read_text()
EOS = (DATA / "arista_eos_sample.cfg").read_text()


def test_ios_bound_acls_numbered_as_show_ip_access_lists_numbers_them():
    base = cisco_ios.parse(IOS)
    outside = [r for r in base.rules if r.table == "OUTSIDE-IN"]
    assert [r.id for r in outside][:3] == ["OUTSIDE-IN 10", "OUTSIDE-IN 20", "OUTSIDE-IN 30"]
    assert outside[0].services[1].ports == ((443, 443),)  # object-group service
    assert outside[-1].implicit and outside[-1].src_zones == ("GigabitEthernet0/0",)
    established = next(r for r in outside if "established" in r.conditions)
    assert established.approximate
    std = [r for r in base.rules if r.table == "10"]
    assert std[0].sources.ranges == (cidr_range("10.40.10.7"),)  # lone address: a host
    assert std[1].sources.ranges == (cidr_range("10.40.0.0/16"),)  # wildcard mask
    assert std[0].dst_zones == ("GigabitEthernet0/1",)  # bound out
    assert "VTY" not in {r.table for r in base.rules}  # an access-class ACL is not a filter


def test_ios_management_per_vty_range_http_and_snmp():
    base = cisco_ios.parse(IOS)
    by = {m.protocol: m for m in base.management}
    # vty 0 4: default transport (telnet+ssh) behind access-class VTY; vty 5 15: ssh, no ACL
    assert by["telnet"].sources.ranges == (cidr_range("10.40.10.0/24"),)
    assert by["ssh"].sources.is_any
    assert by["http"].enabled and not by["https"].enabled
    assert [c.is_default for c in base.snmp] == [True, False]
    assert all(
        "public" not in line and "S3cretRW" not in line for c in base.snmp for line in c.lines
    )
    isakmp = next(p for p in base.vpn_proposals if p.name == "isakmp policy 10")
    assert (isakmp.encryption, isakmp.integrity, isakmp.dh_groups) == (("3des",), ("md5",), (2,))
    assert base.default_route_interfaces == ("GigabitEthernet0/0",)


def test_nxos_groups_feature_telnet_and_vty_acl():
    base = cisco_nxos.parse(NXOS)
    first = base.rules[0]
    assert first.id == "SERVER-IN 10"
    assert first.sources.ranges == (cidr_range("10.50.0.10"), cidr_range("10.50.1.0/24"))
    assert first.services[0].ports == ((22, 22), (8000, 8010))
    by = {m.protocol: m for m in base.management}
    assert set(by) == {"telnet", "ssh"}
    assert by["ssh"].sources.ranges == (cidr_range("10.50.9.0/24"),)
    assert base.default_route_interfaces == ("Vlan50",)


def test_eos_management_blocks():
    base = arista_eos.parse(EOS)
    assert {m.protocol for m in base.management} == {"https", "telnet", "ssh"}
    assert [r.id for r in base.rules][:3] == ["EDGE-IN 10", "EDGE-IN 20", "EDGE-IN 30"]


def test_counters_ios_omits_zero_nxos_and_eos_count_only_per_entry():
    ios = cisco_ios.parse(IOS)
    cisco_ios.apply_counters(ios, (
        "edge1 uptime is 1 week, 2 days, 3 hours, 4 minutes\n"
        "Extended IP access list OUTSIDE-IN\n"
        "    10 permit tcp any host 10.40.10.80 eq www (3 matches)\n"
        "    20 permit tcp any host 10.40.10.80 eq 22 log\n"
    ))  # fmt: skip
    by = {r.id: r.hits for r in ios.rules}
    assert (by["OUTSIDE-IN 10"], by["OUTSIDE-IN 20"], by["OUTSIDE-IN 30"]) == (3, 0, None)
    assert ios.counter_baseline_seconds == 9 * 86400 + 3 * 3600 + 4 * 60
    nx = cisco_nxos.parse(NXOS)
    cisco_nxos.apply_counters(nx, (
        "IP access list SERVER-IN\n        statistics per-entry\n"
        "        10 permit tcp addrgroup SERVERS any portgroup MGMT-PORTS [match=7]\n"
        "        20 permit tcp 10.50.2.0/24 10.50.0.10/32 eq 443 log [match=0]\n"
    ))  # fmt: skip
    assert [r.hits for r in nx.rules][:3] == [7, 0, None]
    eos = arista_eos.parse(EOS)
    arista_eos.apply_counters(eos, (
        "IP Access List EDGE-IN\n"
        "        10 permit tcp any host 198.51.100.2 eq ssh [match 12 packets, 0:00:05 ago]\n"
        "        20 permit tcp 10.60.0.0/16 any eq https log\n"
    ))  # fmt: skip
    assert [r.hits for r in eos.rules][:2] == [12, None]  # no `counters per-entry`: unknown


def test_an_acl_bound_in_and_out_is_two_tables():
    text = IOS.replace(" ip access-group 10 out", " ip access-group 10 out\n ip access-group 10 in")
    tables = [r.table for r in cisco_ios.parse(text).rules if r.id.startswith("10 ")]
    assert set(tables) == {"10 (in)", "10 (out)"}


def test_a_repeated_sequence_number_keeps_ids_unique():
    text = NXOS.replace(
        "  20 permit tcp 10.50.2.0/24", "  10 permit udp any any\n  20 permit tcp 10.50.2.0/24"
    )
    base = cisco_nxos.parse(text)
    ids = [r.id for r in base.rules]
    assert "SERVER-IN 10 #2" in ids and len(ids) == len(set(ids))
    assert any("repeated" in w for w in base.warnings)
