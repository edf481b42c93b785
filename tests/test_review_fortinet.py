"""FortiOS semantics the review relies on (agent/review/platforms/fortinet.py)."""

from __future__ import annotations

from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import fortinet

SAMPLE = (Path(__file__).parent / "data" / "review" / "fortinet_sample.conf").read_text()


def rules():
    return {r.id: r for r in fortinet.parse(SAMPLE).rules}


def test_policies_keep_the_listed_order_not_the_id_order_then_an_implicit_deny():
    base = fortinet.parse(SAMPLE)
    assert [r.id for r in base.rules] == ["3", "1", "2", "policy:implicit-deny"]
    assert base.rules[-1].implicit and base.rules[-1].action == "deny"


def test_defaults_left_out_of_a_backup_are_applied():
    by_id = rules()
    assert by_id["2"].action == "deny"  # no `set action`
    assert by_id["2"].enabled is False and by_id["2"].log is True  # logtraffic utm
    assert by_id["1"].log is False and by_id["1"].schedule is None


def test_objects_groups_and_vips_expand_to_ranges():
    by_id = rules()
    lan, r1 = cidr_range("192.168.1.0/24"), (cidr_range("10.0.0.1")[0], cidr_range("10.0.0.10")[0])
    assert by_id["1"].sources.ranges == (r1, lan)
    assert by_id["1"].sources.names == ("g1",)
    # The VIP's mapped address is what the policy matches (post-DNAT, as on every vendor).
    assert by_id["3"].destinations.ranges == (cidr_range("192.168.1.10"),)
    assert [(s.protocol, s.ports) for s in by_id["3"].services] == [("tcp", ((3389, 3389),))]


def test_what_the_model_cannot_express_is_a_condition_never_a_narrower_rule():
    rule = rules()["2"]
    assert rule.approximate
    assert "address web (fqdn)" in rule.conditions
    assert rule.destinations.is_any  # the FQDN widened to any, never to nothing


def test_nat_management_vpn_and_snmp():
    base = fortinet.parse(SAMPLE)
    (vip,) = base.nat
    assert (vip.zone, vip.protocol, vip.external_ports) == ("wan1", "tcp", ((3389, 3389),))
    wan = {m.protocol for m in base.management if m.interface == "wan1"}
    assert wan == {"ping", "https", "ssh"}
    telnet = next(m for m in base.management if m.protocol == "telnet")
    assert telnet.sources.is_any  # no admin has a trusthost
    assert [(u.name, u.kind) for u in base.vpn_users] == [("vpnuser", "ssl-vpn")]
    phase1 = next(p for p in base.vpn_proposals if p.name == "phase1 to-branch")
    assert phase1.encryption == ("des", "3des") and phase1.dh_groups == (2,)
    phase2 = next(p for p in base.vpn_proposals if p.name == "phase2 to-branch")
    assert phase2.dh_groups == (14, 5)  # the firmware default the backup leaves out
    assert base.snmp[0].is_default and "public" not in " ".join(base.snmp[0].lines)
    assert base.default_route_interfaces == ("wan1",)  # a static route without `set dst`
    assert next(i for i in base.interfaces if i.name == "wan1").untrusted is True


def test_trusthosts_restrict_admin_access_and_negation_is_kept():
    text = SAMPLE.replace(
        '        set accprofile "super_admin"\n',
        '        set accprofile "super_admin"\n        set trusthost1 10.1.0.0 255.255.0.0\n',
    ).replace(
        '        set srcaddr "g1"\n',
        '        set srcaddr "g1"\n        set srcaddr-negate enable\n',
    )
    base = fortinet.parse(text)
    ssh = next(m for m in base.management if m.protocol == "ssh")
    assert ssh.sources.ranges == (cidr_range("10.1.0.0/16"),)
    assert next(r for r in base.rules if r.id == "1").sources.negated


def test_hit_counters_and_uptime():
    base = fortinet.parse(SAMPLE)
    fortinet.apply_counters(
        base,
        "Uptime: 12 days,  3 hours,  4 minutes\n"
        "policy index=3 uuid_idx=14 action=accept\npkts/bytes=0/0\n"
        "policy index=1 uuid_idx=15 action=accept\npkts/bytes=1520/92110\n",
    )
    by_id = {r.id: r for r in base.rules}
    assert (by_id["3"].hits, by_id["1"].hits, by_id["2"].hits) == (0, 1520, None)
    assert base.counter_baseline_seconds == 12 * 86400 + 3 * 3600 + 4 * 60


def test_a_multi_vdom_backup_gives_a_table_per_vdom():
    text = (
        "config vdom\nedit root\nnext\nedit cust1\nnext\nend\n"
        'config global\nconfig system interface\n    edit "port1"\n        set vdom "root"\n'
        "        set allowaccess ssh\n    next\nend\nend\n"
        'config vdom\nedit root\nconfig firewall policy\n    edit 1\n        set srcintf "port1"\n'
        '        set dstintf "port2"\n        set srcaddr "all"\n        set dstaddr "all"\n'
        '        set action accept\n        set service "ALL"\n    next\nend\nnext\n'
        'edit cust1\nconfig firewall policy\n    edit 1\n        set srcintf "port3"\n'
        '        set dstintf "port4"\n        set srcaddr "all"\n        set dstaddr "all"\n'
        '        set service "ALL"\n    next\nend\nnext\nend\n'
    )
    base = fortinet.parse(text)
    assert [(r.table, r.id, r.action) for r in base.rules] == [
        ("root/policy", "root/1", "permit"), ("root/policy", "root/policy:implicit-deny", "deny"),
        ("cust1/policy", "cust1/1", "deny"), ("cust1/policy", "cust1/policy:implicit-deny", "deny"),
    ]  # fmt: skip
    assert base.warnings == []


BATFISH = Path(__file__).parent / "data" / "review" / "batfish"


def test_batfish_fortios_grammar_append_zones_move_and_quoting():
    """Batfish's FortiOS grammar fixtures (tests/data/review/README.md)."""
    base = fortinet.parse((BATFISH / "fortios_firewall_policy").read_text())
    by_id = {r.id: r for r in base.rules}
    assert [r.id for r in base.rules][:5] == ["0", "4294967294", "1", "2", "3"]  # listed order
    assert by_id["1"].src_zones == ("port1", "port2") and len(by_id["1"].services) == 2  # append
    assert by_id["4294967294"].action == "deny"  # no `set action`
    assert "service custom_tcp_12_from_11 source ports 11" in by_id["4294967294"].conditions
    assert by_id["3"].dst_zones == ("zone1", "zone3")  # set replaces, append adds
    assert next(i for i in base.interfaces if i.name == "port3").zone == "zone1"
    assert base.warnings == []
    moved = fortinet.parse((BATFISH / "fortios_policy_move").read_text())
    assert [r.id for r in moved.rules][:5] == ["5", "1", "2", "4", "3"]  # move before/after
    quoting = fortinet.parse((BATFISH / "fortios_replacemsg").read_text())
    assert quoting.rules == [] and len(quoting.warnings) <= 1  # odd quoting: a warning at most
