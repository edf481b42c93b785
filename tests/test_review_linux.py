"""Linux netfilter semantics the review relies on (agent/review/platforms/linux.py). The
JSON and iptables-save texts were printed by nft 1.0.6 / iptables 1.8.9 (nf_tables) from
rulesets loaded into a throwaway namespace (tests/data/review/README.md)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from agent.review.model import cidr_range
from agent.review.platforms import linux

DATA = Path(__file__).parent / "data" / "review"
NFT = (DATA / "linux_nft_sample.txt").read_text()
IPT = (DATA / "linux_iptables_sample.txt").read_text()


def table(base, name):
    return [r for r in base.rules if r.table == name]


def test_nft_base_chains_with_policy_sets_counters_and_a_flattened_jump():
    base = linux.parse(NFT)
    inp = table(base, "inet filter input")
    assert inp[-1].implicit and inp[-1].action == "deny"  # policy drop
    assert inp[0].conditions == ("ct state in established,related",) and inp[0].hits == 0
    admins = inp[2]  # ip saddr @admins tcp dport 22
    assert admins.sources.ranges == (cidr_range("10.70.9.0/24"), cidr_range("10.70.10.5"))
    assert admins.services[0].ports == ((22, 22),)
    assert inp[3].services[0].ports == ((22, 22), (443, 443)) and inp[3].src_zones == ("eth0",)
    fwd = table(base, "inet filter forward")
    lan_out = fwd[1]
    assert (
        lan_out.id.startswith("inet filter lan_out handle")
        and "via inet filter forward" in lan_out.id
    )
    assert (lan_out.src_zones, lan_out.dst_zones, lan_out.conditions) == (("eth1",), ("eth0",), ())
    assert "ip6 filter6 input" not in {r.table for r in base.rules}  # IPv4 model


def test_nft_dnat_listeners_addresses_and_default_route():
    base = linux.parse(NFT)
    (nat,) = base.nat
    assert (nat.zone, nat.protocol, nat.external_ports) == ("eth0", "tcp", ((3389, 3389),))
    assert nat.internal.ranges == (cidr_range("10.70.1.10"),)
    assert {(m.protocol, m.interface) for m in base.management} == {
        ("ssh", ""),
        ("http", "eth1"),
        ("snmp", ""),
    }
    assert base.default_route_interfaces == ("eth0",)


def test_iptables_nft_tables_are_read_once_from_iptables_save():
    base = linux.parse(IPT)
    assert {r.table for r in base.rules} == {
        "iptables filter INPUT", "iptables filter FORWARD", "iptables filter OUTPUT",
    }  # fmt: skip
    inp = table(base, "iptables filter INPUT")
    ssh = inp[2]  # -p tcp --dport 22 -j SSH_IN, then -s 10.80.9.0/24 -j ACCEPT: folded exactly
    assert ssh.id == "filter SSH_IN 1 via filter INPUT 3" and not ssh.conditions
    assert (ssh.sources.ranges, ssh.services[0].ports) == (
        (cidr_range("10.80.9.0/24"),),
        ((22, 22),),
    )
    assert (
        inp[3].services[0].ports == ((80, 80), (443, 443), (8000, 8010))
        and inp[3].comment == "web ui"
    )
    fwd = table(base, "iptables filter FORWARD")
    assert fwd[1].sources.negated and fwd[1].action == "deny"
    assert fwd[2].sources.ranges == ((cidr_range("10.80.1.100")[0], cidr_range("10.80.1.120")[0]),)
    assert table(base, "iptables filter OUTPUT")[0].action == "permit"  # :OUTPUT ACCEPT
    assert [r.hits for r in inp[:2]] == [0, 0]  # iptables-save -c
    assert base.nat[0].internal.ranges == (cidr_range("10.80.1.10"),)


def test_hostile_json_is_inert_and_warned():
    document = json.loads(NFT[: NFT.index("\n")])
    iifname = {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth\x07"}}
    expr = [iifname, {"accept": None}, 5, {"a": 1, "b": 2}]
    rule = {"family": "inet", "table": "filter", "chain": "input", "handle": 99}
    document["nftables"].append({"rule": {**rule, "comment": "\x1b[2J\u202e", "expr": expr}})
    document["nftables"].append({"rule": "not an object"})
    ct = {"match": {"op": "in", "left": {"ct": {"key": "st\x1bate"}}, "right": ["new\x07"]}}
    weird = {"family": "inet", "table": "filter", "chain": "input", "handle": "9\x1b[1m"}
    document["nftables"].append({"rule": {**weird, "expr": [ct, {"drop": None}]}})
    base = linux.parse(json.dumps(document) + "\n" + "[" * 100_000)
    hostile = next(r for r in base.rules if r.id.endswith("handle 99"))
    assert hostile.src_zones == ("eth",) and hostile.comment.isprintable()
    assert "unreadable expression" in hostile.conditions
    assert all(t.isprintable() for r in base.rules for t in (r.id, *r.conditions, *r.lines))
    assert linux.parse('{"nftables": [' + "[" * 50_000).warnings  # recursion: a warning


def test_uptime_bounds_the_counter_baseline():
    base = linux.parse(NFT)
    linux.apply_counters(base, "350735.47 1394845.11\n")
    assert base.counter_baseline_seconds == 350735


def semantics(base):
    return [
        (r.table, r.position, r.action, r.sources, r.destinations, r.services, r.src_zones,
         r.dst_zones, r.log, r.enabled, r.conditions, r.comment)
        for r in base.rules
    ]  # fmt: skip


def test_nft_text_reads_as_its_json():
    """`nft list ruleset` text and the file it was loaded from (an /etc/nftables.conf
    backup) give the rules `nft -j list ruleset` gives (rule handles aside)."""
    json_rules = semantics(linux.parse(NFT))
    for name in ("linux_nft_list.txt", "linux_ruleset.nft"):
        base = linux.parse((DATA / name).read_text())
        assert semantics(base) == json_rules and base.warnings == []
        assert base.nat[0].internal.ranges == (cidr_range("10.70.1.10"),)


def test_nft_text_variables_and_unknown_statements():
    base = linux.parse(
        "define ADMIN = 10.1.2.0/24\n"
        "table ip f {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        "  ip saddr $ADMIN tcp dport ssh accept\n"
        "  tcp dport 80 limit rate 10/second accept\n }\n}\n"
    )
    ssh, limited = base.rules[:2]
    assert ssh.sources.ranges == (cidr_range("10.1.2.0/24"),) and ssh.services[0].ports == (
        (22, 22),
    )
    assert limited.approximate  # `limit rate` narrows it in a way the model cannot say


def test_mangled_nft_text_never_raises():
    text = (DATA / "linux_ruleset.nft").read_text()
    rng = random.Random(5)
    for _ in range(60):
        words = text.split(" ")
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(words))
            words[i] = rng.choice(["{", "}", ";", "=", "!=", "@x", "-", "1.2.3", "type", "chain"])
        base = linux.parse(" ".join(words))
        assert all(r.lines for r in base.rules)


def test_a_native_nat_table_iptables_save_prints_empty_is_read_from_nft():
    """iptables 1.8.9 warns that nft's own 'ip nat' is incompatible and still prints an
    empty '*nat': the DNAT is nft's, not dropped as iptables-nft's (the lab router's)."""
    import json

    from agent.review.platforms import parser_for

    ruleset = {"nftables": [
        {"table": {"family": "ip", "name": "nat", "handle": 2}},
        {"chain": {"family": "ip", "table": "nat", "name": "prerouting", "handle": 1,
                   "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "handle": 3,
                  "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}},
                                      "right": "wan0"}},
                           {"match": {"op": "==", "left": {"payload": {"protocol": "tcp",
                                      "field": "dport"}}, "right": 3389}},
                           {"dnat": {"addr": "198.19.10.50", "port": 3389}}]}},
    ]}  # fmt: skip
    saved = (
        "# Table `nat' contains incompatible base-chains, use 'nft' tool to list them.\n"
        "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
    )
    base = parser_for("linux").parse(json.dumps(ruleset) + "\n" + saved, "gw")
    (nat,) = base.nat
    assert nat.zone == "wan0" and nat.internal_ports == ((3389, 3389),)
