"""The client's public DNS, web and registration side, planted into a running lab.

``plant(lab)`` adds a name server host running a real BIND 9 (authoritative for ``test.``,
the client's ``keyturn.test`` and a clean ``tidy.test``), a lab RDAP server on the same host,
and HTTPS/LDAPS-like hosts with the certificates and protocol versions of a typical inherited
site. ``unplant(lab, info)`` removes all of it. Every address is in the lab's 198.18.0.0/24.

Planted in ``keyturn.test``: SPF with ``+all`` and more than 10 DNS lookups, no DMARC, no
DKIM/MTA-STS/CAA/DNSSEC, AXFR open to anyone, a CNAME to a name that does not exist, and a
registration that expires in 20 days. ``tidy.test`` has none of that (signed, DS in
``test.``, AXFR refused). Certificates: a valid one, an expired one, one expiring in 10 days,
a self-signed one, a 1024-bit RSA/SHA-1 one whose name does not match, and a TLS-1.0-only
admin page (server at ``ALL:@SECLEVEL=0``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import daemons

NS_IP = "198.18.0.153"
PLANTED = "keyturn.test"
CLEAN = "tidy.test"
RDAP_URL = f"http://{NS_IP}/rdap/"

# name, ip, vendor, class: hosts plugged in with lab.add_host (their listeners come from here)
HOSTS = [
    ("ns1", NS_IP, "Dell", "server"),
    ("www", "198.18.0.160", "Dell", "server"),
    ("shop", "198.18.0.161", "Dell", "server"),
    ("ldap1", "198.18.0.162", "Dell", "server"),
    ("nas2", "198.18.0.163", "Synology", "nas"),
    ("oldfw", "198.18.0.164", "Fortinet", "firewall"),
]
# (host, port) -> the finding ids the certificate inventory must report for it
EXPECTED_CERTS: dict[tuple[str, int], set[str]] = {
    ("198.18.0.160", 443): set(),
    ("198.18.0.161", 443): {"cert_expired"},
    ("198.18.0.162", 636): {"cert_expiring"},
    ("198.18.0.163", 5001): {"cert_self_signed"},
    ("198.18.0.164", 443): {"cert_self_signed", "cert_weak_key", "cert_sha1", "cert_name_mismatch"},
    ("198.18.0.164", 8443): {"tls_legacy_protocol"},
}
EXPECTED_DOMAIN_FINDINGS = {
    "spf_permissive", "spf_too_many_lookups", "dmarc_missing", "dkim_missing",
    "mta_sts_missing", "caa_missing", "dnssec_missing", "zone_transfer_allowed",
    "dangling_cname", "domain_expiring",
}  # fmt: skip


@dataclass
class WebDnsInfo:
    nameserver: str
    domains: list[str]
    ca_file: Path
    rdap_bootstrap: Path
    workdir: Path
    hosts: list[str] = field(default_factory=list)

    def config_toml(self) -> str:
        """The ``[dns]`` table a site config needs for this part of the lab."""
        return (
            "\n[dns]\n"
            f"domains = {json.dumps(self.domains)}\n"
            f"nameservers = {json.dumps([self.nameserver])}\n"
            f"rdap_bootstrap = {json.dumps(str(self.rdap_bootstrap))}\n"
            'dkim_selectors = ["selector1"]\n'
        )


def plant(lab) -> WebDnsInfo:
    """Add the hosts, write zones and certificates, start named and the web services."""
    workdir = lab.state_dir / "webdns"
    workdir.mkdir(mode=0o700, exist_ok=True)
    info = WebDnsInfo(
        NS_IP, [PLANTED, CLEAN], workdir / "ca.pem", workdir / "rdap-bootstrap.json", workdir
    )
    try:
        for name, ip, vendor, cls in HOSTS:
            lab.add_host(name, ip, vendor=vendor, device_class=cls)
            info.hosts.append(name)
        listeners = _certificates_and_listeners(lab, workdir)
        write_zones(workdir, planted_mx="mail")
        _start_named(lab, workdir)
        _start_webservices(lab, workdir, listeners)
        _write_bootstrap(info.rdap_bootstrap)
    except BaseException:
        unplant(lab, info)
        raise
    return info


def unplant(lab, info: WebDnsInfo) -> None:
    for name in reversed(info.hosts):
        lab.remove_host(name)  # kills the processes recorded for that host too
    info.hosts.clear()


def write_zones(workdir: Path, *, planted_mx: str, serial: int | None = None) -> None:
    """Zone files and named.conf; call again with another ``planted_mx`` and ``reload``."""
    serial = serial or int(time.time())
    zones = workdir / "zones"
    zones.mkdir(exist_ok=True)
    (zones / f"{PLANTED}.zone").write_text(_planted_zone(serial, planted_mx))
    clean = zones / f"{CLEAN}.zone"
    if not (zones / f"{CLEAN}.zone.signed").exists():
        clean.write_text(_clean_zone(serial))
        _sign(zones, CLEAN)
    ds = (zones / f"dsset-{CLEAN}.").read_text()
    (zones / "test.zone").write_text(_parent_zone(serial, ds))
    (workdir / "named.conf").write_text(_named_conf(workdir))


def reload(lab) -> None:
    """Make named read the zone files again (SIGHUP)."""
    for proc in lab.state.processes:
        if proc.what == "named" and proc.host == "ns1":
            os.kill(proc.pid, signal.SIGHUP)


def _soa(origin: str, serial: int) -> str:
    return (
        f"$ORIGIN {origin}.\n$TTL 300\n"
        f"@ IN SOA ns1.test. hostmaster.{origin}. {serial} 3600 600 86400 300\n"
        "@ IN NS ns1.test.\n"
    )


def _planted_zone(serial: int, mx: str) -> str:
    # Eleven includes: one more DNS lookup than SPF allows (RFC 7208 4.6.4).
    chain = "".join(
        f'_spf{i} IN TXT "v=spf1 include:_spf{i + 1}.{PLANTED} -all"\n' for i in range(1, 11)
    )
    return _soa(PLANTED, serial) + (
        f"@ IN MX 10 {mx}.{PLANTED}.\n"
        "@ IN A 198.18.0.160\n"
        f'@ IN TXT "v=spf1 mx a include:_spf1.{PLANTED} +all"\n'
        + chain
        + '_spf11 IN TXT "v=spf1 -all"\n'
        "www IN A 198.18.0.160\n"
        "mail IN A 198.18.0.162\n"
        "shop IN A 198.18.0.161\n"
        "ldap1 IN A 198.18.0.162\n"
        "nas IN A 198.18.0.163\n"
        "vpn IN A 198.18.0.164\n"
        "status IN CNAME keyturn.statuspage-gone.test.\n"
    )


def _clean_zone(serial: int) -> str:
    return _soa(CLEAN, serial) + (
        f"@ IN MX 10 mail.{CLEAN}.\n"
        "@ IN A 198.18.0.160\n"
        '@ IN TXT "v=spf1 mx -all"\n'
        '@ IN CAA 0 issue "letsencrypt.org"\n'
        '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@tidy.test"\n'
        'selector1._domainkey IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC'
        '3Q0Ee5Pl0ylrE0eUyVZmnqcD3iqC4pBq9sTQIDAQAB"\n'
        '_mta-sts IN TXT "v=STSv1; id=20261101"\n'
        '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@tidy.test"\n'
        "www IN CNAME tidy.test.\n"
        "mail IN A 198.18.0.165\n"
    )


def _parent_zone(serial: int, ds: str) -> str:
    return _soa("test", serial) + (
        f"ns1 IN A 198.18.0.153\n{PLANTED}. IN NS ns1.test.\n{CLEAN}. IN NS ns1.test.\n" + ds
    )


def _named_conf(workdir: Path) -> str:
    zones = workdir / "zones"
    return f"""options {{
    directory "{workdir}";
    pid-file none;
    session-keyfile none;
    managed-keys-directory "{workdir}";
    listen-on {{ {NS_IP}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
zone "test." {{ type primary; file "{zones}/test.zone"; }};
zone "{PLANTED}." {{ type primary; file "{zones}/{PLANTED}.zone"; allow-transfer {{ any; }}; }};
zone "{CLEAN}." {{ type primary; file "{zones}/{CLEAN}.zone.signed"; }};
"""


def _sign(zones: Path, origin: str) -> None:
    """A KSK and a ZSK (ECDSA P-256) and a zone signed once; dsset-<origin>. for the parent."""

    def run(*argv: str) -> str:
        return subprocess.run(
            argv, cwd=zones, check=True, capture_output=True, text=True
        ).stdout.strip()

    run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", origin)
    run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", origin)
    run(
        "dnssec-signzone",
        "-q",
        "-S",
        "-K",
        ".",
        "-o",
        origin,
        "-f",
        f"{origin}.zone.signed",
        f"{origin}.zone",
    )


def _start_named(lab, workdir: Path) -> None:
    log = workdir / "named.log"
    proc = daemons.spawn(
        lab.host_ns("ns1"),
        ["/usr/sbin/named", "-g", "-n", "1", "-c", str(workdir / "named.conf")],
        log,
    )
    lab.state.record_process(proc.pid, "named", "ns1")
    daemons.wait_ready(proc, log, "running")


def _start_webservices(lab, workdir: Path, listeners: list[dict]) -> None:
    spec = workdir / "webservices.json"
    spec.write_text(json.dumps(listeners, indent=1))
    log = workdir / "webservices.log"
    env = daemons.daemon_env(PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    import sys

    proc = daemons.spawn(
        lab.bridge_ns, [sys.executable, "-m", "lab.webservices", "--spec", str(spec)], log, env=env
    )
    lab.state.record_process(proc.pid, "webservices", "ns1")
    daemons.wait_ready(proc, log, "ready")


def _write_bootstrap(path: Path) -> None:
    """An IANA-format RDAP bootstrap (whoisit's saved form) naming only the lab server."""

    def one(key: str) -> dict:
        return {"services": [[[key], [RDAP_URL]]], "version": "1.0"}

    path.write_text(
        json.dumps(
            {
                "timestamp": int(time.time()),
                "dns": one("test"),
                "asn": one("64496-64511"),
                "ipv4": one("198.18.0.0/15"),
                "ipv6": one("2001:db8::/32"),
                "object": one("LAB"),
            }
        )
    )


def rdap_answers(now: dt.datetime) -> dict[str, dict]:
    def answer(name: str, expires_days: int) -> dict:
        return {
            "objectClassName": "domain",
            "ldhName": name,
            "handle": name.upper(),
            "status": ["client transfer prohibited"],
            "events": [
                {"eventAction": "registration", "eventDate": "2019-03-01T00:00:00Z"},
                {
                    "eventAction": "expiration",
                    "eventDate": (now + dt.timedelta(days=expires_days)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                },
            ],
            "nameservers": [{"objectClassName": "nameserver", "ldhName": "ns1.test"}],
            "entities": [
                {
                    "objectClassName": "entity",
                    "roles": ["registrar"],
                    "handle": "9999",
                    "vcardArray": [
                        "vcard",
                        [["version", {}, "text", "4.0"], ["fn", {}, "text", "Lab Registrar Ltd"]],
                    ],
                }
            ],
        }

    return {PLANTED: answer(PLANTED, 20), CLEAN: answer(CLEAN, 400)}


def _certificates_and_listeners(lab, workdir: Path) -> list[dict]:
    from lab import certs

    ca = certs.make_ca(workdir)
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    ns = lab.host_ns

    def leaf(name: str, names: list[str], before: dt.datetime, after: dt.datetime) -> dict:
        cert, key = certs.issue(workdir, ca, name, names, before, after)
        return {"cert": str(cert), "key": str(key)}

    www = leaf("www", [f"www.{PLANTED}", PLANTED], now - day, now + 365 * day)
    return [
        {
            "netns": ns("www"),
            "ip": "198.18.0.160",
            "port": 80,
            "kind": "http",
            "redirect": f"https://www.{PLANTED}/",
        },
        {
            "netns": ns("www"),
            "ip": "198.18.0.160",
            "port": 443,
            "kind": "https",
            "hsts": True,
            "title": "Keyturn Test Ltd",
            **www,
        },
        {
            "netns": ns("shop"),
            "ip": "198.18.0.161",
            "port": 443,
            "kind": "https",
            "title": "Shop",
            **leaf("shop", [f"shop.{PLANTED}"], now - 400 * day, now - 10 * day),
        },
        {
            "netns": ns("ldap1"),
            "ip": "198.18.0.162",
            "port": 636,
            "kind": "tls",
            **leaf(
                "ldap1", [f"ldap1.{PLANTED}", f"mail.{PLANTED}"], now - 355 * day, now + 10 * day
            ),
        },
        {
            "netns": ns("nas2"),
            "ip": "198.18.0.163",
            "port": 5001,
            "kind": "https",
            "title": "Synology DiskStation",
            **certs.self_signed(workdir, "nas2", f"nas.{PLANTED}"),
        },
        {
            "netns": ns("oldfw"),
            "ip": "198.18.0.164",
            "port": 80,
            "kind": "http",
            "title": "Firewall",
        },
        {
            "netns": ns("oldfw"),
            "ip": "198.18.0.164",
            "port": 443,
            "kind": "https",
            "title": "SSL VPN",
            "legacy": True,
            **certs.sha1_1024(workdir, "fw.example.invalid"),
        },
        {
            "netns": ns("oldfw"),
            "ip": "198.18.0.164",
            "port": 8443,
            "kind": "https",
            "title": "Admin",
            "legacy": True,
            "min_tls": "1.0",
            "max_tls": "1.0",
            **leaf("oldfw-admin", [f"vpn.{PLANTED}"], now - day, now + 365 * day),
        },
        {"netns": ns("ns1"), "ip": NS_IP, "port": 80, "kind": "rdap", "rdap": rdap_answers(now)},
    ]


# AD-integrated records planted on the lab DC: one dynamic record last refreshed 60 days ago
# pointing at an address nobody answers on, one static record to another dead address.
AD_RECORDS = {"old-pc": ("198.18.0.77", 60), "printer-old": ("198.18.0.78", None)}
# A UPN suffix of the forest that no public zone knows: checked as a domain, found absent.
UPN_SUFFIX = "upn-only.test"


def _partitions(lab) -> str:
    return f"CN=Partitions,CN=Configuration,{lab.manifest['ad']['base_dn']}"


def _ad_nodes(lab) -> list[str]:
    ad = lab.manifest["ad"]
    zone = ad["dns_name"].split(".", 1)[1]
    return [
        f"DC={name},DC={zone},CN=MicrosoftDNS,DC=DomainDnsZones,{ad['base_dn']}"
        for name in AD_RECORDS
    ]


def _ad_connection(lab):
    import ssl

    import ldap3

    from agent.core.secret_store import SecretStore
    from lab import netns

    ad = lab.manifest["ad"]
    password = SecretStore(lab.client).get(ad["server"], ad["admin_user"])
    tls = ldap3.Tls(validate=ssl.CERT_NONE)
    with netns.inside(lab.tech_ns):  # the socket must live in the lab, not the root namespace
        server = ldap3.Server(ad["server"], port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        conn = ldap3.Connection(server, ad["admin_user"], password.reveal(), auto_bind=True)
    return conn


def plant_ad_records(lab) -> None:
    import datetime as dt

    from agent.webdns.adzones import encode_record, hours_since_1601

    conn = _ad_connection(lab)
    try:
        now = dt.datetime.now(dt.UTC)
        for dn, (address, age) in zip(_ad_nodes(lab), AD_RECORDS.values(), strict=True):
            hours = hours_since_1601(now - dt.timedelta(days=age)) if age else 0
            blob = encode_record(1, bytes(int(x) for x in address.split(".")), 900, hours)
            if not conn.add(dn, ["top", "dnsNode"], {"dnsRecord": [blob]}):
                raise RuntimeError(f"cannot plant {dn}: {conn.result}")
        if not conn.modify(_partitions(lab), {"uPNSuffixes": [("MODIFY_ADD", [UPN_SUFFIX])]}):
            raise RuntimeError(f"cannot add the UPN suffix: {conn.result}")
    finally:
        conn.unbind()


def remove_ad_records(lab) -> None:
    conn = _ad_connection(lab)
    try:
        for dn in _ad_nodes(lab):
            conn.delete(dn)
        conn.modify(_partitions(lab), {"uPNSuffixes": [("MODIFY_DELETE", [UPN_SUFFIX])]})
    finally:
        conn.unbind()
