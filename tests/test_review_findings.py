"""Each review finding fires on its planted rule and nothing fires on a clean rule base."""

from __future__ import annotations

from agent.review.findings import FINDINGS, review, untrusted_side, weak_crypto
from agent.review.fixes import suggest
from agent.review.model import (
    AddressSet,
    Interface,
    Management,
    NatRule,
    Rule,
    RuleBase,
    Service,
    SnmpCommunity,
    VpnProposal,
    VpnUser,
    cidr_range,
)

LAN = AddressSet((cidr_range("10.0.0.0/24"),), names=("lan-net",))


def host(ip: str) -> AddressSet:
    return AddressSet((cidr_range(ip),), names=(ip,))


def tcp(port: int) -> tuple[Service, ...]:
    return (Service("tcp", ((port, port),), f"tcp/{port}"),)


def policy(pid: int, src_zone: str, dst_zone: str, action: str = "permit", **kw) -> Rule:
    kw.setdefault("log", True)
    kw.setdefault("hits", 10)
    return Rule(
        str(pid), "policy", pid, action, src_zones=(src_zone,), dst_zones=(dst_zone,),
        lines=(f"edit {pid}",), **kw,
    )  # fmt: skip


def clean_base() -> RuleBase:
    return RuleBase(
        "fortinet",
        "fw1",
        rules=[
            policy(1, "port2", "port1", sources=LAN),
            policy(2, "port1", "port2", destinations=host("10.0.0.10"), services=tcp(443)),
            Rule("0", "policy", 99, "deny", implicit=True, lines=("implicit deny",)),
        ],
        nat=[
            NatRule(
                "web-vip",
                "port1",
                host("198.51.100.2"),
                "tcp",
                ((443, 443),),
                host("10.0.0.10"),
                ((443, 443),),
                ("edit web-vip",),
            )
        ],
        management=[
            Management("ssh", "port2", LAN, lines=("set allowaccess ssh https",)),
            Management("https", "port2", lines=("set allowaccess ssh https",)),
        ],
        snmp=[SnmpCommunity(False, "ro", ("community <redacted>",))],
        vpn_proposals=[VpnProposal("p1", ("aes256",), ("sha256",), (14, 19))],
        interfaces=[
            Interface("port1", addresses=("198.51.100.2/30",)),
            Interface("port2", addresses=("10.0.0.1/24",)),
        ],
        default_route_interfaces=("port1",),
        counter_baseline_seconds=200 * 86400,
    )


def test_a_clean_base_has_no_finding() -> None:
    result = review(clean_base())
    assert [f.to_json() for f in result.findings] == []
    assert result.untrusted == ["port1"] and result.untrusted_source == "inferred"
    (exposure,) = result.exposures  # the web server is listed, not flagged
    assert exposure["rules"] == ["2"] and exposure["sensitive"] == []


def planted_base() -> RuleBase:
    base = clean_base()
    rdp = host("10.0.0.20")
    base.rules[2:2] = [
        policy(3, "port1", "port2", destinations=rdp, services=tcp(3389)),
        policy(4, "port3", "port1", sources=host("10.9.0.0/25"), services=tcp(22)),
        policy(5, "port3", "port1", sources=host("10.9.0.128/25"), services=tcp(22)),
        policy(6, "port3", "port1", "deny", sources=host("10.9.0.0/24"), services=tcp(22)),
        policy(7, "port2", "port1", enabled=False),
        policy(8, "port2", "port1", destinations=host("192.0.2.1"), log=False),
        policy(9, "port2", "port1", destinations=host("192.0.2.2"), hits=0),
        policy(10, "port1", "port2"),
    ]
    base.nat.append(
        NatRule("rdp-vip", "port1", host("198.51.100.2"), "tcp", ((3389, 3389),), rdp,
                ((3389, 3389),), ("edit rdp-vip",))
    )  # fmt: skip
    base.management += [
        Management("ssh", "port1", lines=("set allowaccess ssh",)),
        Management("telnet", "port2", LAN, lines=("set allowaccess telnet",)),
    ]
    base.snmp.append(SnmpCommunity(True, "rw", ("community <redacted>",)))
    base.vpn_users.append(VpnUser("alice", "ssl-vpn", lines=('edit "alice"',)))
    base.vpn_proposals.append(VpnProposal("old", ("3des",), ("md5",), (2,), ("set proposal",)))
    base.rules.append(Rule("input:1", "filter/input", 0, "permit", sources=LAN, log=True))
    base.rules.append(Rule("input:*", "filter/input", 1, "permit", implicit=True))
    return base


def test_each_planted_issue_fires_with_its_rule_and_lines() -> None:
    result = review(planted_base())
    got = {(f.id, f.subject) for f in result.findings}
    assert got >= {
        ("internet_exposed_service", "rdp-vip"),
        ("any_any_permit", "10"),
        ("wan_management", "ssh@port1"),
        ("cleartext_management", "telnet@port2"),
        ("snmp_default_community", "snmp"),
        ("rule_shadowed", "6"),
        ("rule_no_log", "8"),
        ("rule_disabled", "7"),
        ("rule_unused", "9"),
        ("no_default_deny", "filter/input"),
        ("vpn_local_user", "alice"),
        ("vpn_weak_crypto", "old"),
    }
    assert {f.id for f in result.findings} <= set(FINDINGS)
    by_id = {f.id: f for f in result.findings}
    assert by_id["rule_shadowed"].data["covered_by"] == ["4", "5"]
    assert by_id["rule_shadowed"].lines == ("edit 6", "edit 4", "edit 5")
    assert by_id["internet_exposed_service"].data["sensitive"] == ["RDP"]
    assert "edit rdp-vip" in by_id["internet_exposed_service"].lines
    assert by_id["rule_unused"].data["confidence"] == "high"
    assert by_id["vpn_weak_crypto"].data["weak"] == ["3des", "md5", "DH group 2"]
    # clean rules stay clean
    assert not {s for i, s in got if s in ("1", "2") and i != "rule_redundant"}


def test_untrusted_side_from_the_site_config_wins() -> None:
    names, source = untrusted_side(clean_base(), ["port2"])
    assert (names, source) == ({"port2"}, "site config")
    result = review(clean_base(), ["port9"])
    # with port1 trusted, the forward on port1 is an inside forward
    assert result.exposures == []


def test_weak_crypto_tokens() -> None:
    assert weak_crypto(("aes-256-cbc", "des-cbc"), ("hmac-sha-256", "esp-sha-hmac"), (14,)) == [
        "des-cbc",
        "esp-sha-hmac",
    ]
    assert weak_crypto(("aes128gcm",), ("sha512", "sha2-256"), (19, 20)) == []


def test_fixes_are_the_platforms_own_lines() -> None:
    result = review(planted_base())
    text = suggest(result)
    assert "config firewall policy\n    edit 8\n        set logtraffic all" in text
    assert "unselect allowaccess telnet" in text
    assert "edit 6\n        set status disable" in text


def test_hostile_names_never_shape_a_suggested_line() -> None:
    """Names come from the device's config: a line break in one must not add a line of the
    config's choosing to the fix file, and a quote must not end FortiOS's quoted name."""
    base = clean_base()
    injected = "8\nconfig system admin"
    base.rules[2:2] = [
        Rule(injected, "policy", 8, "permit", src_zones=("port2",), dst_zones=("port1",),
             destinations=host("192.0.2.1"), log=False, hits=10, lines=("edit 8\r\nx",)),
    ]  # fmt: skip
    base.management.append(Management("telnet", 'port2" \nset x', LAN, lines=("telnet",)))
    text = suggest(review(base))
    lines = text.splitlines()
    assert "config system admin" not in lines and "set x" not in lines
    assert not any(line.startswith("config system admin") for line in lines)
    assert '    edit "port2"' not in text and 'edit "port2"' not in text
    assert "no automatic suggestion on fortinet; the evidence:" in text
