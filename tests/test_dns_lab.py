"""keyturn dns against the lab's real BIND 9, RDAP server and TLS services (lab/webdns.py).

Everything runs in the lab's technician namespace, which has no default route: a query that
tried to leave the lab would fail, not leak. The planted domain must show every planted issue
with its id, the clean one nothing; the certificate inventory lists every TLS service the
discover run found; a changed MX shows up as a critical change in the next run and the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab

TLS_PORTS = "22,53,80,443,636,5001,8443"
PROBE_TARGET = "192.0.2.1"
PROBE = (
    "import socket, time\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    f"s.sendto(b'probe', ('{PROBE_TARGET}', 9))\n"
    "time.sleep(1.2)\n"
)


@pytest.fixture(scope="module")
def webdns(lab):
    from lab import webdns

    info = webdns.plant(lab)
    try:
        webdns.plant_ad_records(lab)
        try:
            yield info
        finally:
            webdns.remove_ad_records(lab)
    finally:
        webdns.unplant(lab, info)


@pytest.fixture
def dns_env(lab, lab_cli_env, webdns, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "site.toml"
    config.write_text(lab.site_config_path.read_text() + webdns.config_toml())
    return dict(lab_cli_env, KEYTURN_CONFIG=str(config))


def keyturn(lab, env: dict[str, str], *args: str, timeout: float = 300):
    return subprocess.run(
        [*lab.exec_prefix(), KEYTURN, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def dns_document(lab, env: dict[str, str], *args: str) -> dict:
    result = keyturn(lab, env, "dns", "--json", "-", *args)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_planted_issues_certificates_and_a_changed_record(lab, webdns, dns_env, tmp_path):
    from lab.webdns import (
        CLEAN,
        EXPECTED_CERTS,
        EXPECTED_DOMAIN_FINDINGS,
        PLANTED,
        UPN_SUFFIX,
        reload,
        write_zones,
    )

    found = keyturn(lab, dns_env, "discover", "--ports", TLS_PORTS)
    assert found.returncode in (0, 1), found.stderr

    first = dns_document(lab, dns_env)
    by_domain = {d["name"]: d for d in first["domains"]}
    assert {f["id"] for f in by_domain[PLANTED]["findings"]} == EXPECTED_DOMAIN_FINDINGS
    assert by_domain[CLEAN]["findings"] == []
    # The AD forest's zone is checked too; the public side does not know it.
    ad_zone = lab.manifest["ad"]["dns_name"].split(".", 1)[1]
    assert by_domain[ad_zone]["source"] == "ad" and by_domain[ad_zone]["exists"] is False
    assert by_domain[UPN_SUFFIX]["source"] == "ad" and by_domain[UPN_SUFFIX]["findings"] == []
    assert by_domain[CLEAN]["dnssec"]["validates"] is True
    assert by_domain[PLANTED]["registration"]["registrar"] == "Lab Registrar Ltd"
    assert set(first) >= {"run_id", "domains", "internal_zones", "certificates", "findings"}

    certs = {(c["host"], c["port"]): c for c in first["certificates"]}
    for key, expected in EXPECTED_CERTS.items():
        assert key in certs, f"{key} missing from the certificate inventory"
        assert {f["id"] for f in certs[key]["findings"]} == expected, (key, certs[key])
    assert certs[("198.18.0.164", 8443)]["protocol"] == "TLSv1"
    assert certs[("198.18.0.164", 443)]["key"] == {"type": "RSA", "bits": 1024}
    assert (lab.manifest["ad"]["server"], 636) in certs  # the DC's real LDAPS
    assert set(certs[("198.18.0.161", 443)]) >= {
        "host", "port", "subject", "sans", "issuer", "not_after", "key", "self_signed",
        "findings"}  # fmt: skip
    web = {(w["host"], w["port"]): w for w in first["web"]}
    assert [f["id"] for f in web[("198.18.0.164", 80)]["findings"]] == ["http_no_https_redirect"]
    assert web[("198.18.0.160", 80)]["findings"] == []
    assert first["changes"] == []

    # AD-integrated zones read over LDAP: the planted stale and dead records, the DC alive.
    records = [r for z in first["internal_zones"] for r in z["records"]]
    zone = lab.manifest["ad"]["dns_name"].split(".", 1)[1]
    internal = {
        (f["id"], f["target"].split()[0]) for f in first["findings"] if f["id"].startswith("dns_")
    }
    assert {
        ("dns_stale_record", f"old-pc.{zone}"),
        ("dns_record_dead_host", f"old-pc.{zone}"),
        ("dns_record_dead_host", f"printer-old.{zone}"),
    } <= internal
    assert [r["static"] for r in records if r["name"] == f"printer-old.{zone}"] == [True]
    dc = [r for r in records if r["type"] == "A" and r["data"] == lab.manifest["ad"]["server"]]
    assert dc, [(r["name"], r["type"], r["data"]) for r in records][:40]
    assert not any("dead" in r for r in dc)

    # The MX moves: the next run reports it as a critical change, and so does the report.
    write_zones(webdns.workdir, planted_mx="mx-new")
    reload(lab)
    try:
        second = dns_document(lab, dns_env, "--no-ad")
        changed = [c for c in second["changes"] if c["subject"] == f"{PLANTED} MX"]
        assert changed and changed[0]["severity"] == "critical", second["changes"]
        assert changed[0]["new"] == f"10 mx-new.{PLANTED}."
        out = tmp_path / "report"
        written = keyturn(lab, dns_env, "report", "--format", "json", "--out", str(out))
        assert written.returncode in (0, 1), written.stderr
        report = json.loads(next(out.glob("*.json")).read_text())
        assert any(c["subject"] == f"{PLANTED} MX" for c in report["web_dns"]["changes"])
        assert report["web_dns"]["certificates"]
    finally:
        write_zones(webdns.workdir, planted_mx="mail")
        reload(lab)


def test_a_public_resolver_is_refused_without_allow_public(lab, dns_env):
    result = keyturn(lab, dns_env, "dns", "--nameserver", "9.9.9.9", "--no-ad")
    assert result.returncode == 2, result
    assert "9.9.9.9 is outside the authorised scope" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_leaves_the_lab(lab, dns_env, tmp_path):
    """A default route into a veth pair catches any packet meant for outside the lab (a
    public resolver, IANA's RDAP bootstrap, a public suffix list download) or its ARP
    request; tcpdump on every interface of the technician namespace must see none."""
    sink, peer, ns = f"{lab.lab_id}-sk", f"{lab.lab_id}-sp", lab.tech_ns
    pcap = tmp_path / "out.pcap"
    subprocess.run(["ip", "-n", ns, "link", "add", sink, "type", "veth", "peer", "name", peer],
                   check=True)  # fmt: skip
    try:
        for name in (sink, peer):
            subprocess.run(["ip", "-n", ns, "link", "set", name, "up"], check=True)
        subprocess.run(["ip", "-n", ns, "route", "add", "default", "dev", sink], check=True)
        capture = subprocess.Popen(
            [*lab.exec_prefix(), "tcpdump", "-i", "any", "-n", "-U", "-w", str(pcap),
             "not (src net 198.18.0.0/15 and dst net 198.18.0.0/15)"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert any("listening" in capture.stderr.readline() for _ in range(3))
            # The probe proves the trap works: one datagram to TEST-NET-1 (its ARP request
            # stays on the veth pair inside the namespace).
            subprocess.run([*lab.exec_prefix(), sys.executable, "-c", PROBE], check=True)
            result = keyturn(lab, dns_env, "dns")
            assert result.returncode == 1, result.stderr  # the planted findings
        finally:
            capture.terminate()
            capture.wait(10)
        leaked = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True,
                                text=True)  # fmt: skip
        lines = leaked.stdout.splitlines()
        assert any(PROBE_TARGET in line for line in lines), leaked.stdout
        assert all(PROBE_TARGET in line for line in lines), leaked.stdout
    finally:
        subprocess.run(["ip", "-n", ns, "link", "del", sink], check=False)


def test_spf_and_dmarc_agree_with_checkdmarc(lab, webdns):
    """keyturn parses SPF and DMARC itself (checkdmarc's import alone cost more than the whole
    stage); on the lab's real records it must agree with checkdmarc, given the same resolver."""
    from checkdmarc.dmarc import check_dmarc
    from checkdmarc.spf import check_spf

    from agent.core.scope import ScopeGuard
    from agent.webdns import mail
    from agent.webdns.dnsdata import make_resolver
    from lab import netns

    guard = ScopeGuard(["198.18.0.0/24"])
    with netns.inside(lab.tech_ns):  # every query socket opens inside the lab
        for domain in webdns.domains:
            resolver = make_resolver([webdns.nameserver], guard)
            ours, theirs = mail.spf(resolver, domain), check_spf(domain, resolver=resolver)
            assert (ours["record"], ours["dns_lookups"]) == (
                theirs["record"],
                theirs["dns_lookups"],
            ), domain
            ours, theirs = mail.dmarc(resolver, domain), check_dmarc(domain, resolver=resolver)
            policy = ((theirs.get("tags") or {}).get("p") or {}).get("value")
            assert (ours["record"], ours["policy"]) == (theirs.get("record"), policy), domain
