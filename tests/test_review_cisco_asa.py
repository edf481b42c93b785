"""Cisco ASA semantics the review relies on (agent/review/platforms/cisco_asa.py)."""

from __future__ import annotations

from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import cisco_asa

SAMPLE = (Path(__file__).parent / "data" / "review" / "cisco_asa_sample.cfg").read_text()


def test_bound_acls_only_with_asa_line_numbers_and_an_implicit_deny():
    base = cisco_asa.parse(SAMPLE)
    outside = [r for r in base.rules if r.table == "outside_in"]
    # line 1 is a remark: the ASA counts it, so hit counts map back by number
    assert [r.id for r in outside][:4] == [f"outside_in line {n}" for n in (2, 3, 4, 5)]
    assert outside[-1].implicit and outside[-1].action == "deny"
    assert all(r.src_zones == ("outside",) for r in outside)
    assert "split" not in {r.table for r in base.rules}  # an unbound ACL filters nothing


def test_objects_groups_names_and_flags():
    by_id = {r.id: r for r in cisco_asa.parse(SAMPLE).rules}
    rdp = by_id["outside_in line 2"]
    assert rdp.destinations.ranges == (cidr_range("192.168.1.10"),) and rdp.log
    assert [(s.protocol, s.ports) for s in rdp.services] == [("tcp", ((3389, 3389),))]
    web = by_id["outside_in line 3"]
    assert web.services[0].ports == ((80, 80), (443, 443))
    admins = by_id["outside_in line 4"]
    assert not admins.enabled  # inactive
    assert cidr_range("192.168.1.0/24") in admins.sources.ranges  # network-object object lan
    mixed = by_id["dmz_in line 1"]
    assert mixed.destinations.ranges == (cidr_range("192.168.1.20"),)  # `name` alias
    assert {s.protocol for s in mixed.services} == {"tcp", "udp"}
    assert by_id["dmz_in line 2"].conditions == ("echo-reply",)


def test_security_levels_make_the_implicit_rules_of_an_interface_without_acl():
    base = cisco_asa.parse(SAMPLE)
    inside = [r for r in base.rules if r.table == "inside (no access-group)"]
    assert [r.action for r in inside] == ["permit", "deny"]
    assert inside[0].implicit and inside[0].dst_zones == ("outside", "dmz")


def test_nat_management_vpn():
    base = cisco_asa.parse(SAMPLE)
    (nat,) = base.nat
    assert nat.external.ranges == (cidr_range("203.0.113.2"),)  # `static interface`
    assert (nat.protocol, nat.external_ports) == ("tcp", ((3389, 3389),))
    mgmt = {(m.protocol, m.interface) for m in base.management}
    assert mgmt == {
        ("https", "inside"),
        ("https", "outside"),
        ("ssh", "outside"),
        ("telnet", "inside"),
    }
    # service-type admin (also the default) allows remote access too
    assert [(u.name, u.kind) for u in base.vpn_users] == [
        ("admin", "anyconnect"),
        ("vpnbob", "anyconnect"),
    ]
    ike = next(p for p in base.vpn_proposals if p.name == "ikev1 policy 10")
    assert (ike.encryption, ike.integrity, ike.dh_groups) == (("3des",), ("md5",), (2,))
    assert base.default_route_interfaces == ("outside",)


def test_hit_counts_from_show_access_list_and_uptime_from_show_version():
    base = cisco_asa.parse(SAMPLE)
    cisco_asa.apply_counters(
        base,
        "asa1 up 3 days 4 hours\n"
        "access-list outside_in line 1 remark allow rdp\n"
        "access-list outside_in line 2 extended permit tcp any host 192.168.1.10 eq 3389 log"
        " informational interval 300 (hitcnt=7) 0x1a2b3c4d\n"
        "access-list outside_in line 3 extended permit tcp any host 172.16.0.5 object-group web"
        " (hitcnt=0) 0x11111111\n"
        "  access-list outside_in line 3 extended permit tcp any host 172.16.0.5 eq www"
        " (hitcnt=0) 0x22222222\n",
    )
    by_id = {r.id: r for r in base.rules}
    assert (by_id["outside_in line 2"].hits, by_id["outside_in line 3"].hits) == (7, 0)
    assert base.counter_baseline_seconds == 3 * 86400 + 4 * 3600


def test_a_global_access_group_replaces_the_security_level_defaults():
    text = SAMPLE.replace(
        "access-group dmz_in in interface dmz",
        "access-group dmz_in in interface dmz\naccess-list GLOBAL extended deny ip any any\n"
        "access-group GLOBAL global",
    )
    tables = {r.table for r in cisco_asa.parse(text).rules}
    assert "global" in tables and "inside (no access-group)" not in tables


def test_ipv6_only_entries_are_out_of_the_ipv4_model_without_a_warning():
    text = SAMPLE.replace(
        "access-list outside_in extended deny ip any any log",
        "access-list outside_in extended permit tcp any6 any6 eq 22\n"
        "access-list outside_in extended permit tcp any host 2001:db8::5 eq 443\n"
        "access-list outside_in extended deny ip any any log",
    ).replace(
        "object network lan\n", "object network v6srv\n host 2001:db8::7\nobject network lan\n"
    )
    base = cisco_asa.parse(text)
    ids = [r.id for r in base.rules if r.table == "outside_in"]
    # lines 5 and 6 are IPv6 only: left out, and the deny keeps its ASA number (7)
    assert ids[3:] == ["outside_in line 7", "outside_in:implicit-deny"] and base.warnings == []
