"""Pure logic of keyturn dns: dnsRecord decoding, SPF qualifiers, the rules table, recorded
RDAP answers, the scope checks on resolvers and RDAP endpoints, the store's diff and the
report section. The real servers are exercised in tests/test_dns_lab.py."""

from __future__ import annotations

import ipaddress
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.core.errors import ScopeError, UsageError
from agent.core.scope import ScopeGuard
from agent.webdns import Service, adzones, mail, rdap, rules, tls_candidates
from agent.webdns.dnsdata import make_resolver

DATA = Path(__file__).parent / "data" / "rdap"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
CONTRACT_IDS = [
    "spf_missing",
    "spf_permissive",
    "spf_too_many_lookups",
    "dmarc_missing",
    "dmarc_policy_none",
    "dkim_missing",
    "mta_sts_missing",
    "caa_missing",
    "dnssec_missing",
    "zone_transfer_allowed",
    "dangling_cname",
    "domain_expiring",
    "cert_expired",
    "cert_expiring",
    "cert_self_signed",
    "cert_weak_key",
    "cert_sha1",
    "cert_name_mismatch",
    "tls_legacy_protocol",
    "http_no_https_redirect",
    "dns_stale_record",
    "dns_record_dead_host",
]


def _count_name(name: str) -> bytes:
    labels = name.rstrip(".").split(".")
    body = b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"
    return bytes([len(body), len(labels)]) + body


def test_rule_ids_are_the_contract() -> None:
    assert list(rules.RULE_IDS) == CONTRACT_IDS


def test_dnsrecord_a_txt_and_timestamps_round_trip() -> None:
    hours = adzones.hours_since_1601(NOW - timedelta(days=40))
    a = adzones.decode_record(adzones.encode_record(1, bytes([198, 18, 0, 7]), 1200, hours))
    assert a["type"] == "A" and a["data"] == "198.18.0.7" and a["ttl"] == 1200
    assert a["static"] is False and a["timestamp"].startswith("2026-10-21")
    txt = adzones.decode_record(adzones.encode_record(16, b"\x05hello\x03a b"))
    assert txt["data"] == '"hello" "a b"' and txt["static"] is True


def test_dnsrecord_mx_srv_numbers_are_big_endian() -> None:
    mx = adzones.decode_record(
        adzones.encode_record(15, struct.pack(">H", 10) + _count_name("mail.corp.test"))
    )
    assert mx["data"] == "10 mail.corp.test."
    srv = adzones.decode_record(
        adzones.encode_record(33, struct.pack(">HHH", 0, 100, 389) + _count_name("dc1.corp.test"))
    )
    assert srv["data"] == "0 100 389 dc1.corp.test."
    blob = adzones.encode_record(1, bytes(4), ttl=0x01020304)
    assert blob[12:16] == b"\x01\x02\x03\x04"  # TTL big-endian inside a little-endian header


@pytest.mark.parametrize("blob", [b"", b"\x04\x00" * 5, adzones.encode_record(1, b"\1\2\3\4")[:26]])
def test_a_damaged_dnsrecord_is_an_error_not_a_crash(blob: bytes) -> None:
    with pytest.raises(adzones.RecordError):
        adzones.decode_record(blob)


class _Entry:
    def __init__(self, dn: str, raw: dict) -> None:
        self.dn, self.raw = dn, raw


class _Conn:
    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries

    def search(self, base, _filter, _attributes):
        return [e for e in self.entries if e.dn.endswith(base)]


def test_zones_read_and_judged_stale_dead_and_shared() -> None:
    base = "CN=MicrosoftDNS,DC=DomainDnsZones,DC=corp,DC=test"
    old = adzones.hours_since_1601(NOW - timedelta(days=60))
    fresh = adzones.hours_since_1601(NOW - timedelta(days=1))
    conn = _Conn([
        _Entry(f"DC=old-pc,DC=corp.test,{base}",
               {"dnsrecord": [adzones.encode_record(1, bytes([10, 0, 0, 5]), hours=old)]}),
        _Entry(f"DC=printer,DC=corp.test,{base}",
               {"dnsrecord": [adzones.encode_record(1, bytes([10, 0, 0, 9]))]}),
        _Entry(f"DC=alias,DC=corp.test,{base}",
               {"dnsrecord": [adzones.encode_record(1, bytes([10, 0, 0, 9]), hours=fresh),
                              b"garbage"]}),
        _Entry(f"DC=gone,DC=corp.test,{base}",
               {"dnsrecord": [adzones.encode_record(1, bytes(4))], "dnstombstoned": [b"TRUE"]}),
        _Entry(f"DC=@,DC=..TrustAnchors,{base}", {"dnsrecord": []}),
    ])  # fmt: skip
    zones = adzones.read_zones(conn, ["DC=DomainDnsZones,DC=corp,DC=test"])
    assert [z["name"] for z in zones] == ["corp.test"]
    covered = ipaddress.ip_network("10.0.0.0/24")
    adzones.judge(
        zones,
        now=NOW,
        aging_days=14,
        alive={"10.0.0.5"},
        covered=lambda ip: ipaddress.ip_address(ip) in covered,
    )
    records = {r["name"]: r for r in zones[0]["records"]}
    assert "gone.corp.test" not in records
    assert "60 days ago" in records["old-pc.corp.test"]["stale"]
    assert "dead" not in records["old-pc.corp.test"]
    assert records["printer.corp.test"]["dead"].startswith("10.0.0.9")
    assert "stale" not in records["printer.corp.test"]  # static records never age
    assert zones[0]["shared_addresses"] == {"10.0.0.9": ["alias.corp.test", "printer.corp.test"]}
    found = rules.evaluate("record", records["old-pc.corp.test"], "old-pc", rules.context(NOW))
    assert [f["id"] for f in found] == ["dns_stale_record"]


@pytest.mark.parametrize(("record", "qualifier"), [
    ("v=spf1 mx +all", "+"), ("v=spf1 mx all", "+"), ("v=spf1 ?all", "?"),
    ("v=spf1 ~all", "~"), ("v=spf1 include:x -ALL", "-"), ("v=spf1 mx", None), (None, None),
])  # fmt: skip
def test_spf_all_qualifier(record, qualifier) -> None:
    assert mail.all_qualifier(record) == qualifier


def test_txt_strings_are_joined() -> None:
    assert mail.txt_values(['"v=spf1 " "-all"', '"a\\"b"']) == ["v=spf1 -all", 'a\\"b']


def _domain(**email) -> dict:
    return {"name": "acme.test", "records": {"acme.test CAA": ['0 issue "ca.test"']},
            "dnssec": {"validates": True}, "zone_transfer": [], "dangling_cnames": [],
            "registration": None, "email_security": {
                "spf": {"record": "v=spf1 -all", "all": "-", "dns_lookups": 1},
                "dmarc": {"record": "v=DMARC1; p=reject", "policy": "reject"},
                "dkim": {"found": {"s1": "p=x"}, "selectors_checked": ["s1"]},
                "mta_sts": "v=STSv1; id=1", **email}}  # fmt: skip


def test_a_clean_domain_has_no_finding_and_each_gap_its_id() -> None:
    ctx = rules.context(NOW)
    assert rules.evaluate("domain", _domain(), "acme.test", ctx) == []
    none = _domain(dmarc={"record": "v=DMARC1; p=none", "policy": "none"})
    assert [f["id"] for f in rules.evaluate("domain", none, "acme.test", ctx)] == [
        "dmarc_policy_none"
    ]
    neutral = _domain(spf={"record": "v=spf1 ?all", "all": "?", "dns_lookups": 11})
    assert {f["id"] for f in rules.evaluate("domain", neutral, "acme.test", ctx)} == {
        "spf_permissive",
        "spf_too_many_lookups",
    }
    expiring = {**_domain(), "registration": {"expires": (NOW + timedelta(days=29)).isoformat()}}
    assert [f["id"] for f in rules.evaluate("domain", expiring, "acme.test", ctx)] == [
        "domain_expiring"
    ]


def test_certificate_rules() -> None:
    ctx = rules.context(NOW)
    cert = {
        "not_after": (NOW + timedelta(days=200)).isoformat(),
        "key": {"type": "EC", "bits": 256},
        "signature_hash": "sha256",
        "self_signed": False,
        "sans": ["*.acme.test"],
        "names": ["www.acme.test"],
        "protocol": "TLSv1.2",
    }
    assert rules.evaluate("certificate", cert, "x", ctx) == []
    assert (
        rules.evaluate("certificate", {**cert, "names": ["a.b.acme.test"]}, "x", ctx)[0]["id"]
        == "cert_name_mismatch"
    )
    assert rules.evaluate("certificate", {**cert, "names": []}, "x", ctx) == []
    legacy = {**cert, "protocol": "TLSv1.1", "key": {"type": "RSA", "bits": 1024}}
    assert {f["id"] for f in rules.evaluate("certificate", legacy, "x", ctx)} == {
        "tls_legacy_protocol",
        "cert_weak_key",
    }


def test_recorded_rdap_answers() -> None:
    full = rdap.summarise(json.loads((DATA / "full.json").read_text()))
    assert full == {
        "registrar": "Example Registrar, Inc.", "expires": "2027-05-01T12:00:00+00:00",
        "registered": "2001-05-01T12:00:00+00:00",
        "status": ["client transfer prohibited", "server delete prohibited"],
        "nameservers": ["ns1.example.test", "ns2.example.test"],
    }  # fmt: skip
    # No handle, an unparseable date, an empty vCard, no expiry: what is there, no exception.
    sparse = rdap.summarise(json.loads((DATA / "sparse.json").read_text()))
    assert sparse == {"registrar": None, "expires": None, "registered": None, "status": [],
                      "nameservers": []}  # fmt: skip
    assert rdap.summarise(["not", "an", "object"]) == {"error": "not an RDAP domain answer"}
    assert rdap.summarise({"objectClassName": "entity"})["error"]
    odd = rdap.summarise({"events": "x", "entities": [{"roles": "registrar"}], "status": None})
    assert odd["registrar"] is None and odd["status"] == []


def test_rdap_bootstrap_picks_the_longest_suffix(tmp_path: Path) -> None:
    guard = ScopeGuard(["198.18.0.0/24"])
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"services": [[["uk"], ["http://198.18.0.1/uk/"]],
                                             [["co.uk"], ["http://198.18.0.2/"]]]}))  # fmt: skip
    table = rdap.load_bootstrap(str(path), guard)
    assert table["co.uk"] == ["http://198.18.0.2/"]
    assert rdap.lookup("acme.zz", table)["error"].startswith("no RDAP server for .zz")


def test_rdap_endpoints_must_be_addresses_in_scope(tmp_path: Path) -> None:
    guard = ScopeGuard(["198.18.0.0/24"])
    rdap.check_endpoint("http://198.18.0.5/rdap/", guard)
    with pytest.raises(ScopeError, match="not a name"):
        rdap.check_endpoint("https://rdap.example.test/", guard)
    with pytest.raises(ScopeError, match="outside"):
        rdap.check_endpoint("http://198.18.1.5/", guard)
    bootstrap = tmp_path / "b.json"
    bootstrap.write_text(json.dumps({"dns": {"services": [[["test"], ["https://8.8.8.8/"]]]}}))
    with pytest.raises(ScopeError):
        rdap.load_bootstrap(str(bootstrap), guard)
    bootstrap.write_text(json.dumps({"services": [["test"]]}))
    with pytest.raises(UsageError, match="malformed"):
        rdap.load_bootstrap(str(bootstrap), guard)
    bootstrap.write_text(json.dumps({"dns": {"services": [[["test"], ["https://8.8.8.8/"]]]}}))
    with pytest.raises(ScopeError):
        rdap.load_bootstrap(str(bootstrap), guard)
    bootstrap.write_text("{not json")
    with pytest.raises(UsageError):
        rdap.load_bootstrap(str(bootstrap), guard)


def test_the_resolver_asks_only_what_the_scope_allows() -> None:
    guard = ScopeGuard(["198.18.0.0/24"])
    resolver = make_resolver(["198.18.0.153"], guard)
    assert resolver.nameservers == ["198.18.0.153"]  # /etc/resolv.conf never read
    with pytest.raises(ScopeError):
        make_resolver(["1.1.1.1"], guard)
    with pytest.raises(UsageError, match="no DNS server"):
        make_resolver([], guard)


def test_tls_candidates_from_a_discover_document() -> None:
    doc = {"hosts": [{"ip": "10.0.0.1", "hostnames": ["DC1", "dc1.corp.test"], "ports": [
        {"port": 636, "proto": "tcp", "service": "ldapssl"},
        {"port": 80, "proto": "tcp", "service": "http"},
        {"port": 9000, "proto": "tcp", "service": "ssl/http"},
        {"port": 22, "proto": "tcp", "service": "ssh"},
        {"port": 443, "proto": "udp", "service": "https"}]}]}  # fmt: skip
    tls, http = tls_candidates(doc)
    assert tls == [
        Service("10.0.0.1", 636, "ldapssl", ("dc1.corp.test",)),
        Service("10.0.0.1", 9000, "ssl/http", ("dc1.corp.test",)),
    ]
    assert [s.port for s in http] == [80]


def test_ad_zones_become_domains_except_reverse_and_msdcs() -> None:
    from agent.webdns import ad_domains

    zones = [{"name": n} for n in ("corp.test", "_msdcs.corp.test", "0.18.198.in-addr.arpa",
                                   "acme.test")]  # fmt: skip
    assert ad_domains(zones, ["acme.test"]) == ["corp.test"]
    assert ad_domains(zones, ["acme.test"], ["Acme.COM", "corp.test"]) == ["acme.com", "corp.test"]


def _doc(mx: str, serial: str) -> dict:
    return {"domains": [{"name": "acme.test", "records": {
        "acme.test MX": [mx], "acme.test A": ["198.18.0.1"]}}], "certificates": [
        {"host": "198.18.0.1", "port": 443, "subject": "CN=a", "serial": serial,
         "not_after": "2027-01-01T00:00:00+00:00", "key": {"type": "RSA", "bits": 2048}}],
        "findings": [{"id": "caa_missing", "severity": "low", "target": "acme.test",
                      "detail": "no CAA"}]}  # fmt: skip


def test_store_diff_and_report_section() -> None:
    from inventory import webdns
    from inventory.store import Store
    from reports.model import build_report
    from reports.render import render_html
    from reports.tables import report_tables

    with Store(":memory:") as store:
        first = store.begin_run("dns", "tester", "acme")
        webdns.save(store, first, _doc("10 mx1.acme.test.", "1"))
        store.finish_run(first, "findings")
        second = store.begin_run("dns", "tester", "acme")
        webdns.save(store, second, _doc("10 mx2.acme.test.", "2"))
        store.finish_run(second, "findings")
        assert webdns.previous_run(store, second) == first
        changes = {c["change"]: c for c in webdns.diff(store, first, second)}
        assert changes["dns_record_changed"]["severity"] == "critical"
        assert changes["dns_record_changed"]["new"] == "10 mx2.acme.test."
        assert "certificate_changed" in changes
        report = build_report(store, client="acme", operator="tester")
    section = report["web_dns"]
    assert section["run_id"] == second and section["baseline_run_id"] == first
    assert any(c["change"] == "dns_record_changed" for c in report["changes"])
    assert report["summary"]["critical_changes"] >= 1
    html = render_html(report)
    assert 'id="webdns"' in html and "<meter" in html and "mx2.acme.test" in html
    tables = report_tables(report)
    assert tables["certificates"][1][0][:2] == ["198.18.0.1", 443]
    assert tables["dns_findings"][1] == [["caa_missing", "low", "acme.test", "no CAA"]]


def test_terminal_lines_carry_no_control_character(capsys) -> None:
    from agent.commands.dns import _print

    hostile = "acme.test TXT\x1b[2J\x07"
    _print({"run_id": 1, "domains": [], "certificates": [], "internal_zones": [],
            "findings": [{"id": "x", "severity": "low", "target": hostile}],
            "changes": [{"severity": "medium", "change": "dns_record_changed",
                         "subject": hostile, "old": "a\rb", "new": "c\nd"}],
            "warnings": ["w\x1b"], "timings": {"total": 0.1}})  # fmt: skip
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\x07" not in out.out and "\r" not in out.out
    assert "c d" in out.out  # a newline inside a value becomes a space (inert)
