"""Web and DNS properties: the client's domains, mail security, AD zones and TLS certificates.

Public API (what ``keyturn dns`` and onboard's stage call through agent/ops/dns.py)::

    request = WebDnsRequest(domains=["acme.com"], nameservers=["10.0.0.53"])
    document = collect(request, guard, services=tls_candidates(discover_doc))

Every address contacted (resolvers, authoritative servers for AXFR, RDAP endpoints, TLS
services) passes the scope guard; the resolver never reads /etc/resolv.conf. Nothing here
prints or writes the store; the document's shape is issue 19's contract (docs/dns.md).
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.core.scope import ScopeGuard

# Ports whose service speaks TLS from the first byte (STARTTLS ports are not read here).
TLS_PORTS = frozenset({443, 465, 636, 993, 995, 3269, 4443, 5001, 5986, 8443, 9443, 10443})
TLS_SERVICES = frozenset(
    {
        "https",
        "ssl",
        "ldapssl",
        "imaps",
        "pop3s",
        "smtps",
        "https-alt",
        "globalcatldapssl",
        "ssl/http",
        "ssl/https",
    }
)
HTTP_PORTS = frozenset({80, 8080, 8000, 8008, 8081, 8888})
NOT_HTTP_TLS = frozenset({465, 636, 993, 995, 3269})
WORKERS = 16


@dataclass(frozen=True)
class Service:
    host: str
    port: int
    service: str | None = None
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebDnsRequest:
    domains: list[str]
    nameservers: list[str]
    dkim_selectors: list[str] = field(default_factory=list)
    rdap_bootstrap: str | None = None
    expiry_days: int = 30
    aging_days: int = 14
    timeout: float = 2.0


def tls_candidates(discover_doc: dict | None) -> tuple[list[Service], list[Service]]:
    """(TLS services, plain HTTP services) among the open TCP ports of a discover document."""
    tls, http = [], []
    for host in (discover_doc or {}).get("hosts", []):
        # Only DNS names: a NetBIOS name ("DC1") is no name a certificate could carry.
        names = tuple(n.lower() for n in host.get("hostnames") or () if "." in n)
        for port in host.get("ports", []):
            if port.get("proto", "tcp") != "tcp" or port.get("state", "open") != "open":
                continue
            name = (port.get("service") or "").lower()
            item = Service(host["ip"], int(port["port"]), name or None, names)
            if port["port"] in TLS_PORTS or name in TLS_SERVICES or name.startswith("ssl"):
                tls.append(item)
            elif port["port"] in HTTP_PORTS or name.startswith("http"):
                http.append(item)
    return tls, http


def collect(
    request: WebDnsRequest,
    guard: ScopeGuard,
    *,
    services: tuple[list[Service], list[Service]] = ([], []),
    read_zones: Callable[[], tuple[list[dict], list[str]]] | None = None,
    alive: set[str] | None = None,
    covered: Callable[[str], bool] = lambda _ip: False,
    now: datetime | None = None,
) -> dict:
    """Collect and judge everything; returns the document without ``run_id``."""
    from agent.webdns import rules

    started = time.monotonic()
    ctx = rules.context(now, request.expiry_days)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    domains: list[dict] = []
    tls_services, http_services = services
    with cf.ThreadPoolExecutor(WORKERS) as pool:
        zones_job = pool.submit(read_zones) if read_zones else None
        resolver = None
        if request.domains or (zones_job and request.nameservers):
            from agent.webdns.dnsdata import make_resolver

            resolver = make_resolver(request.nameservers, guard, request.timeout)
        bootstrap = None
        if request.rdap_bootstrap and resolver is not None:
            from agent.webdns.rdap import load_bootstrap

            bootstrap = load_bootstrap(request.rdap_bootstrap, guard)
        domain_jobs = [
            pool.submit(_domain, resolver, name, request, guard, bootstrap)
            for name in request.domains
        ]
        cert_jobs = [pool.submit(_certificate, s, guard, request.timeout) for s in tls_services]
        https_hosts = {s.host for s in tls_services}
        http_jobs = [
            pool.submit(_web, s, guard, request.timeout, s.host in https_hosts)
            for s in http_services
        ]
        internal: list[dict] = []
        suffixes: list[str] = []
        if zones_job is not None:
            try:
                internal, suffixes = zones_job.result()
            except Exception as exc:  # an unreadable directory must not lose the public part
                warnings.append(f"AD zones not read: {exc}")
        if resolver is not None:
            # The AD forest's own DNS names are domains too: is the name also public?
            domain_jobs += [
                pool.submit(_domain, resolver, name, request, guard, bootstrap, "ad")
                for name in ad_domains(internal, request.domains, suffixes)
            ]
        for job in domain_jobs:
            domains.append(job.result())
        timings["domains"] = round(time.monotonic() - started, 3)
        certificates = [job.result() for job in cert_jobs]
        web = [job.result() for job in http_jobs]
        timings["services"] = round(time.monotonic() - started, 3)
    if internal:
        from agent.webdns.adzones import judge

        judge(internal, now=ctx.now, aging_days=request.aging_days, alive=alive, covered=covered)
    return _judge(domains, certificates, web, internal, ctx, warnings, timings, started)


def ad_domains(zones: list[dict], known: list[str], upn_suffixes: list[str] = ()) -> list[str]:
    """The forest's UPN suffixes and forward zones not already listed (no reverse zones, no
    _msdcs): the names its users and machines go by, which may also exist in public DNS."""
    names = list(dict.fromkeys([*(s.lower().rstrip(".") for s in upn_suffixes),
                                *(z["name"] for z in zones)]))  # fmt: skip
    return [
        n for n in names
        if n not in known and not n.startswith("_msdcs.") and not n.endswith((".arpa", ".arpa."))
    ]  # fmt: skip


def _domain(
    resolver,
    name: str,
    request: WebDnsRequest,
    guard: ScopeGuard,
    bootstrap: dict[str, list[str]] | None,
    source: str = "config",
) -> dict:
    from agent.webdns import dnsdata, mail

    data = dnsdata.collect(resolver, name, guard, timeout=request.timeout)
    document = {
        "name": name,
        "source": source,
        "exists": data.exists,
        "registration": None,
        "records": data.records,
        "email_security": mail.email_security(resolver, name, request.dkim_selectors)
        if data.exists
        else None,
        "zone_transfer": data.transfers,
        "dnssec": data.dnssec,
        "dangling_cnames": data.dangling,
        "findings": [],
    }
    if bootstrap and data.exists:
        from agent.webdns.rdap import lookup

        document["registration"] = lookup(name, bootstrap, request.timeout * 2)
    return document


def _certificate(service: Service, guard: ScopeGuard, timeout: float) -> dict:
    from agent.webdns.tlsprobe import probe

    wants_http = service.port not in NOT_HTTP_TLS and "ldap" not in (service.service or "")
    result = probe(service.host, service.port, guard, http=wants_http, timeout=timeout)
    result["service"] = service.service
    result["names"] = list(service.names)
    return result


def _web(service: Service, guard: ScopeGuard, timeout: float, has_https: bool) -> dict:
    from agent.webdns.tlsprobe import http_probe

    return {**http_probe(service.host, service.port, guard, timeout), "host_has_https": has_https}


def _judge(domains, certificates, web, internal, ctx, warnings, timings, started) -> dict:
    from agent.webdns import rules

    names_by_ip: dict[str, set[str]] = {}
    for domain in domains:
        for key, values in domain["records"].items():
            name, rdtype = key.rsplit(" ", 1)
            if rdtype in ("A", "AAAA"):
                for value in values:
                    names_by_ip.setdefault(value, set()).add(name)
        domain["findings"] = (
            rules.evaluate("domain", domain, domain["name"], ctx) if domain["exists"] else []
        )
    for cert in certificates:
        cert["names"] = sorted({*cert.get("names", []), *names_by_ip.get(cert["host"], ())})
        cert["findings"] = (
            []
            if cert.get("error")
            else rules.evaluate("certificate", cert, f"{cert['host']}:{cert['port']}", ctx)
        )
    for page in web:
        page["findings"] = rules.evaluate("http", page, f"{page['host']}:{page['port']}", ctx)
    for zone in internal:
        zone["findings"] = [
            finding
            for record in zone["records"]
            for finding in rules.evaluate(
                "record", record, f"{record['name']} {record['type']} {record['data']}", ctx
            )
        ]
    findings = [
        f
        for group in (domains, certificates, web, internal)
        for item in group
        for f in item["findings"]
    ]
    timings["total"] = round(time.monotonic() - started, 3)
    return {
        "domains": domains,
        "internal_zones": internal,
        "certificates": certificates,
        "web": web,
        "findings": findings,
        "warnings": warnings,
        "timings": timings,
        "checked_at": ctx.now.astimezone(UTC).isoformat(timespec="seconds"),
    }
