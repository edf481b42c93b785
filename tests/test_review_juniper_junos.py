"""Junos SRX semantics the review relies on (agent/review/platforms/juniper_junos.py)."""

from __future__ import annotations

from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import juniper_junos
from agent.review.platforms._common import Reader
from agent.review.platforms._junos_set import statements

SAMPLE = (Path(__file__).parent / "data" / "review" / "juniper_junos_sample.conf").read_text()


def as_set(text: str) -> str:
    """The sample as `show configuration | display set` prints it."""
    reader = Reader("juniper_junos", "")
    stmts = statements(reader, reader.lines(text))
    lines = [s.text for s in stmts]
    lines += [f"deactivate {s.text[4:]}" for s in stmts if s.inactive]
    return "\n".join(lines)


def test_hierarchical_and_set_forms_give_the_same_rule_base():
    tree, flat = juniper_junos.parse(SAMPLE), juniper_junos.parse(as_set(SAMPLE))
    assert tree.rules == flat.rules and tree.nat == flat.nat
    assert tree.management == flat.management and tree.warnings == flat.warnings == []


def test_policies_per_zone_pair_in_order_with_the_default_policy():
    base = juniper_junos.parse(SAMPLE)
    pair = [r for r in base.rules if r.table == "trust->untrust"]
    assert [r.name for r in pair] == ["halves", "lan-web", "old-printers", ""]
    assert pair[-1].implicit and pair[-1].action == "deny"
    halves, web, printers = pair[:3]
    # an address-set of two halves covers exactly what `lan` covers: the union shadow case
    assert halves.sources.ranges == web.sources.ranges == (cidr_range("10.30.10.0/24"),)
    assert not printers.enabled and printers.action == "deny"  # inactive:
    assert web.log and not halves.log
    assert pair[0].lines[0].startswith("set security policies from-zone trust to-zone untrust")


def test_applications_nat_and_management():
    base = juniper_junos.parse(SAMPLE)
    rdp = next(r for r in base.rules if r.name == "allow-rdp")
    assert {(s.protocol, s.ports) for s in rdp.services} == {("tcp", ((3389, 3389),))}
    (nat,) = base.nat
    assert (nat.zone, nat.protocol, nat.external_ports) == ("untrust", "tcp", ((3389, 3389),))
    assert nat.internal.ranges == (cidr_range("10.30.10.50"),)
    mgmt = {(m.protocol, m.interface) for m in base.management}
    assert ("ssh", "ge-0/0/0.0") in mgmt and ("telnet", "ge-0/0/1.0") not in mgmt  # except
    assert ("https", "ge-0/0/0.0") not in mgmt  # web-management bound to ge-0/0/1.0
    assert ("telnet", "fxp0.0") in mgmt  # out-of-band port: every enabled service
    assert base.default_route_interfaces == ("ge-0/0/0.0",)
    assert base.snmp[0].is_default
    assert [u.name for u in base.vpn_users] == ["vpnuser"]
    weak = next(p for p in base.vpn_proposals if p.name == "ike proposal weak-p1")
    assert (weak.encryption, weak.integrity, weak.dh_groups) == (("3des-cbc",), ("md5",), (2,))


def test_hit_counts_and_uptime():
    base = juniper_junos.parse(SAMPLE)
    juniper_junos.apply_counters(
        base,
        "Current time: 2026-11-30 10:00:00 UTC\n"
        "System booted: 2026-10-01 08:00:00 UTC (8w4d 02:00 ago)\n"
        "Logical system: root-logical-system\n"
        " Index   From zone        To zone           Name           Policy count   Action\n"
        " 1       untrust          trust             allow-rdp      42             Permit\n"
        " 2       trust            untrust           halves         0              Permit\n",
    )
    by_name = {r.name: r for r in base.rules}
    assert (by_name["allow-rdp"].hits, by_name["halves"].hits, by_name["lan-web"].hits) == (
        42,
        0,
        None,
    )
    assert base.counter_baseline_seconds == (8 * 7 + 4) * 86400 + 2 * 3600


def test_remote_access_profile_users_are_vpn_users_of_their_kind():
    text = as_set(SAMPLE) + (
        "\nset security remote-access profile ra.example access-profile RA-USERS"
        "\nset access profile RA-USERS client jdoe firewall-user password x"
    )
    kinds = {(u.name, u.kind) for u in juniper_junos.parse(text).vpn_users}
    assert kinds == {("vpnuser", "ipsec-xauth"), ("jdoe", "remote-access")}


def test_global_policies_come_after_zone_pairs_and_carry_the_default():
    web = "set security policies from-zone trust to-zone untrust policy web"
    g1 = "set security policies global policy g1"
    base = juniper_junos.parse(
        f"{web} match source-address any\n{web} match destination-address any\n"
        f"{web} match application junos-http\n{web} then permit\n"
        f"{g1} match source-address any\n{g1} match destination-address any\n"
        f"{g1} match application any\n{g1} match from-zone dmz\n{g1} then deny\n"
        "set security policies default-policy permit-all\n"
    )
    tables = [(r.table, r.id, r.action) for r in base.rules]
    assert tables == [
        ("trust->untrust", "trust->untrust web", "permit"),
        ("global", "global g1", "deny"),
        ("global", "global:implicit-permit", "permit"),  # default-policy permit-all
    ]
    assert base.rules[1].src_zones == ("dmz",)


def test_top_level_apply_groups_are_inherited():
    base = juniper_junos.parse(
        "set groups MGMT system services telnet\n"
        "set groups MGMT security zones security-zone mgmt interfaces ge-0/0/5.0 "
        "host-inbound-traffic system-services all\n"
        "set groups MGMT interfaces ge-0/0/5 unit 0 family inet address 192.0.2.1/24\n"
        "set groups UNUSED system services ftp\n"
        "set apply-groups MGMT\n"
    )
    assert {(m.protocol, m.interface) for m in base.management} == {
        ("telnet", "ge-0/0/5.0"), ("ping", "ge-0/0/5.0"),
    }  # fmt: skip


BATFISH = Path(__file__).parent / "data" / "review" / "batfish"


def test_batfish_junos_application_terms_and_nested_sets():
    """Batfish's Junos grammar fixtures (tests/data/review/README.md)."""
    terms = juniper_junos.parse((BATFISH / "junos_application-with-terms").read_text())
    p1 = terms.rules[0]
    assert [(s.protocol, s.ports) for s in p1.services] == [("tcp", ((1, 1),)), ("udp", ((3, 3),))]
    assert p1.conditions == ("application a1 source-port 2", "application a1 source-port 4")
    nested = juniper_junos.parse((BATFISH / "junos_application-set-nested").read_text())
    chained = [r for r in nested.rules if not r.implicit]
    assert len(chained) == 3 and all(r.services[0].protocol == "tcp" for r in chained)
    assert all(r.approximate for r in chained)  # source-port 1 narrows every one
    assert nested.warnings == terms.warnings == []


def test_ipv6_policies_are_left_out_and_mixed_sets_keep_their_ipv4_part():
    pre = "set security policies from-zone trust to-zone untrust policy"
    base = juniper_junos.parse(
        "set security address-book global address v6net 2001:db8::/32\n"
        "set security address-book global address v4net 10.9.0.0/16\n"
        "set security address-book global address-set mixed address v6net\n"
        "set security address-book global address-set mixed address v4net\n"
        f"{pre} six match source-address v6net\n{pre} six match destination-address any\n"
        f"{pre} six match application any\n{pre} six then permit\n"
        f"{pre} both match source-address mixed\n{pre} both match destination-address any\n"
        f"{pre} both match application any\n{pre} both then permit\n"
    )
    assert [r.name for r in base.rules if not r.implicit] == ["both"]
    assert base.rules[0].sources.ranges == (cidr_range("10.9.0.0/16"),) and base.warnings == []
