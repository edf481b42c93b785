"""Public DNS of one domain, asked only of the resolvers the run was given.

The resolver is built with ``configure=False``: /etc/resolv.conf is never read, so a query
can only go to an address the scope guard passed. Authoritative servers for the AXFR test are
the domain's NS names resolved through that same resolver and checked against the guard too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import dns._features

from agent.core.errors import UsageError
from agent.core.scope import ScopeGuard

# keyturn never speaks DNS over HTTPS; otherwise dnspython imports httpx (when some other
# package installed it) with its query modules: ~0.3 s of CPU on every run.
dns._features.force("doh", False)

import dns.dnssec  # noqa: E402
import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402
import dns.xfr  # noqa: E402
import dns.zone  # noqa: E402

# Names an inherited domain often carries; their CNAMEs are what tends to dangle.
COMMON_LABELS = (
    "www", "mail", "webmail", "autodiscover", "remote", "vpn", "portal", "shop", "blog", "ftp",
    "owa", "status", "dev", "staging", "test", "api", "app", "cdn", "help", "support", "old",
)  # fmt: skip
APEX_TYPES = ("NS", "SOA", "MX", "A", "AAAA", "TXT", "CAA")


def make_resolver(
    nameservers: Iterable[str], guard: ScopeGuard, timeout: float = 2.0
) -> dns.resolver.Resolver:
    """A resolver that asks only ``nameservers`` (each must pass the scope guard)."""
    servers = [str(guard.check(ns)) for ns in nameservers]
    if not servers:
        raise UsageError(
            "no DNS server to ask: set [dns] nameservers, pass --nameserver IP, or run "
            "discover first so the client's own DNS servers are known"
        )
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = servers
    resolver.timeout = min(1.0, timeout)
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.Cache()
    return resolver


def lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str] | None:
    """The answer as text, [] for no data, None for a name that does not exist.

    A CNAME chain is followed by the server; the answer holds the final records only."""
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.NoAnswer):
        return []
    if answer.rrset is None:
        return []
    return sorted(rdata.to_text() for rdata in answer.rrset)


def cname_of(resolver: dns.resolver.Resolver, name: str) -> str | None:
    """The CNAME target at ``name`` itself (not followed), if there is one."""
    try:
        answer = resolver.resolve(name, "CNAME", raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout):
        return None
    if answer.rrset is None:
        return None
    return answer.rrset[0].target.to_text()


@dataclass
class DomainDns:
    records: dict[str, list[str]] = field(default_factory=dict)  # "name TYPE" -> values
    cnames: dict[str, str] = field(default_factory=dict)
    dangling: list[dict[str, str]] = field(default_factory=list)
    transfers: list[dict] = field(default_factory=list)
    dnssec: dict = field(default_factory=dict)
    exists: bool = True


def collect(
    resolver: dns.resolver.Resolver,
    domain: str,
    guard: ScopeGuard,
    labels: Iterable[str] = COMMON_LABELS,
    timeout: float = 2.0,
) -> DomainDns:
    result = DomainDns()
    for rdtype in APEX_TYPES:
        values = lookup(resolver, domain, rdtype)
        if values is None:
            result.exists = False
            return result
        if values:
            result.records[f"{domain} {rdtype}"] = values
    for label in labels:
        name = f"{label}.{domain}"
        target = cname_of(resolver, name)
        if target:
            result.cnames[name] = target
            result.records[f"{name} CNAME"] = [target]
        for rdtype in ("A", "AAAA"):
            values = lookup(resolver, name, rdtype)
            if values:
                result.records[f"{name} {rdtype}"] = values
    for mx in result.records.get(f"{domain} MX", []):
        host = mx.split()[-1].rstrip(".")
        values = lookup(resolver, host, "A")
        if values:
            result.records[f"{host} A"] = values
    result.transfers = zone_transfers(
        resolver, domain, result.records.get(f"{domain} NS", []), guard, timeout
    )
    for zone in result.transfers:
        result.cnames.update(zone.pop("cnames", {}))
    result.dangling = dangling(resolver, result.cnames)
    result.dnssec = dnssec_status(resolver, domain)
    return result


def zone_transfers(
    resolver: dns.resolver.Resolver,
    domain: str,
    ns_names: list[str],
    guard: ScopeGuard,
    timeout: float,
) -> list[dict]:
    """Try AXFR at every authoritative server the guard allows; record who answers."""
    results = []
    for ns in ns_names:
        for address in lookup(resolver, ns.rstrip("."), "A") or []:
            entry: dict = {"server": ns.rstrip("."), "address": address, "allowed": False}
            if not guard.allows(address):
                entry["skipped"] = "outside the authorised scope"
                results.append(entry)
                continue
            try:
                zone = dns.zone.from_xfr(
                    dns.query.xfr(address, domain, timeout=timeout, lifetime=timeout * 2)
                )
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                entry["error"] = type(exc).__name__
            else:
                entry["allowed"] = True
                entry["names"] = len(zone.nodes)
                entry["cnames"] = {
                    f"{name}.{domain}".lstrip("@.")
                    if str(name) != "@"
                    else domain: rdata.target.derelativize(zone.origin).to_text()
                    for name, _ttl, rdata in zone.iterate_rdatas("CNAME")
                }
            results.append(entry)
    return results


def dangling(resolver: dns.resolver.Resolver, cnames: dict[str, str]) -> list[dict[str, str]]:
    """CNAMEs whose target does not exist (NXDOMAIN): whoever registers it owns the name."""
    found = []
    for name, target in sorted(cnames.items()):
        if lookup(resolver, target.rstrip("."), "A") is None:
            found.append({"name": name, "target": target})
    return found


def dnssec_status(resolver: dns.resolver.Resolver, domain: str) -> dict:
    """DS at the parent, DNSKEY at the zone, and whether the DNSKEY set validates against its
    own signature and a DS digest (the chain as far as the lab's or client's servers go)."""
    status: dict = {"ds": lookup(resolver, domain, "DS") or [], "dnskey": False, "validates": False}
    zone = dns.name.from_text(domain)
    try:
        query = dns.message.make_query(zone, "DNSKEY", want_dnssec=True)
        response = dns.query.udp(query, resolver.nameservers[0], timeout=resolver.lifetime)
    except (dns.exception.DNSException, OSError) as exc:
        status["error"] = type(exc).__name__
        return status
    keys = response.get_rrset(response.answer, zone, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    sigs = response.get_rrset(
        response.answer, zone, dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY
    )
    status["dnskey"] = keys is not None
    if keys is None or sigs is None or not status["ds"]:
        return status
    try:
        dns.dnssec.validate(keys, sigs, {zone: keys})
        ds_ok = any(
            dns.dnssec.make_ds(zone, key, _digest(ds)).to_text().lower() == ds.lower()
            for key in keys
            for ds in status["ds"]
        )
    except (dns.dnssec.ValidationFailure, dns.exception.DNSException, ValueError) as exc:
        status["error"] = str(exc)
        return status
    status["validates"] = ds_ok
    return status


def _digest(ds_text: str) -> str:
    digest_type = int(ds_text.split()[2])
    return {1: "SHA1", 2: "SHA256", 4: "SHA384"}.get(digest_type, "SHA256")
