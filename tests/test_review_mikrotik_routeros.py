"""RouterOS semantics the review relies on (agent/review/platforms/mikrotik_routeros.py)."""

from __future__ import annotations

from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import mikrotik_routeros

SAMPLE = (Path(__file__).parent / "data" / "review" / "mikrotik_routeros_sample.rsc").read_text()


def chain(base, name):
    return [r for r in base.rules if r.table == f"filter/{name}"]


def test_chains_in_export_order_closed_by_an_implicit_accept():
    base = mikrotik_routeros.parse(SAMPLE)
    inp = chain(base, "input")
    assert [r.id for r in inp][:6] == [f"filter {n}" for n in range(6)]
    assert inp[-1].implicit and inp[-1].action == "permit"
    established = inp[0]
    assert established.conditions == ("connection-state=established,related,untracked",)
    assert established.lines[0].endswith("connection-state=established,related,untracked")
    winbox = inp[3]  # an address-list of two halves, expanded and merged
    assert winbox.sources.ranges == (cidr_range("192.168.88.0/24"),)
    assert inp[5].src_zones == ("ether1",)  # in-interface-list=!LAN: bridge ports excluded


def test_a_jump_is_flattened_in_place_and_non_terminal_actions_are_left_out():
    fwd = chain(mikrotik_routeros.parse(SAMPLE), "forward")
    assert [r.id for r in fwd] == [
        "filter 11 via 6", "filter 12 via 6", "filter 8", "filter 9", "filter 10",
        "filter/forward:implicit-permit",
    ]  # fmt: skip
    rdp, smb = fwd[0], fwd[1]
    assert rdp.destinations.ranges == (cidr_range("192.168.88.10"),) and not rdp.conditions
    assert rdp.lines[0].startswith("/ip firewall filter add action=jump")
    assert not smb.enabled and smb.log


def test_nat_services_with_defaults_ppp_ipsec_snmp():
    base = mikrotik_routeros.parse(SAMPLE)
    (nat,) = base.nat
    assert (nat.zone, nat.protocol, nat.external_ports) == ("ether1", "tcp", ((3389, 3389),))
    services = {m.protocol: m for m in base.management}
    assert not services["telnet"].enabled and services["winbox"].enabled  # winbox by default
    assert services["winbox"].lines[0].startswith("(default)")
    assert services["http"].sources.ranges == (cidr_range("192.168.88.0/24"),)
    assert [(u.name, u.kind) for u in base.vpn_users] == [("roadwarrior", "l2tp")]  # not pppoe
    profile = next(p for p in base.vpn_proposals if p.name == "profile default")
    assert (profile.encryption, profile.integrity, profile.dh_groups) == (("3des",), ("md5",), (2,))
    assert base.snmp[0].is_default  # SNMP enabled, default community never renamed
    assert base.default_route_interfaces == ("ether1",)
    assert next(i for i in base.interfaces if i.name == "ether1").untrusted


def test_terse_export_reads_the_same():
    terse = []
    menu = ""
    for line in SAMPLE.replace("\\\n    ", "").splitlines():
        if line.startswith("/"):
            menu = line
        elif line and not line.startswith("#"):
            terse.append(f"{menu} {line}")
    assert mikrotik_routeros.parse("\n".join(terse)).rules == mikrotik_routeros.parse(SAMPLE).rules


def test_packets_from_print_stats_skip_dynamic_rules():
    base = mikrotik_routeros.parse(SAMPLE)
    stats = (
        "Flags: X - disabled, I - invalid; D - dynamic \n"
        " #    CHAIN                    ACTION                       BYTES         PACKETS\n"
        " 0  D ;;; special dummy rule to show fasttrack counters\n"
        "      forward                  passthrough            177 209 512         171 512\n"
        " 1    ;;; defconf: accept established,related,untracked\n"
        "      input                    accept                   1 234 567          12 345\n"
        " 2    ;;; defconf: drop invalid\n"
        "      input                    drop                             0               0\n"
    )
    mikrotik_routeros.apply_counters(base, stats + "   uptime: 2w3d04:05:06\n")
    by_id = {r.id: r for r in base.rules}
    assert (by_id["filter 0"].hits, by_id["filter 1"].hits, by_id["filter 2"].hits) == (
        12345,
        0,
        None,
    )
    assert base.counter_baseline_seconds == 17 * 86400 + 4 * 3600 + 5 * 60 + 6


def test_an_unknown_protocol_widens_the_rule_instead_of_dropping_it():
    base = mikrotik_routeros.parse(
        "/ip firewall filter\n"
        "add action=accept chain=input protocol=ipsec-esp\n"
        "add action=drop chain=input protocol=made-up-proto\n"
    )
    esp, unknown = chain(base, "input")[:2]
    assert esp.services[0].protocol == "50" and not esp.conditions
    assert unknown.action == "deny" and unknown.conditions == ("protocol=made-up-proto",)


def test_print_stats_whose_numbers_do_not_sit_under_the_header():
    base = mikrotik_routeros.parse(SAMPLE)
    stats = (
        "Flags: X - disabled, I - invalid; D - dynamic\n"
        " #    CHAIN                  ACTION                  BYTES         PACKETS\n"
        " 0    ;;; accept established,related\n"
        "      input                  accept                583 900 160         912 344\n"
        " 1    input                  drop                      203 520             318\n"
    )
    mikrotik_routeros.apply_counters(base, stats)
    by_id = {r.id: r.hits for r in base.rules}
    assert (by_id["filter 0"], by_id["filter 1"]) == (912344, 318)
