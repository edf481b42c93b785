"""Email security of one domain: SPF, DMARC, DKIM, MTA-STS, TLS-RPT.

SPF and DMARC are parsed by agent/webdns/spf.py over keyturn's own resolver (checkdmarc was
the first choice; its import alone cost more than the rest of the stage, see spf.py). Nothing
is fetched over HTTPS: MTA-STS is its TXT record, not the policy file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dns.resolver

from agent.webdns import spf as spf_parse
from agent.webdns.dnsdata import lookup
from agent.webdns.spf import SPF_LOOKUP_LIMIT, all_qualifier

__all__ = ["SPF_LOOKUP_LIMIT", "all_qualifier", "email_security", "txt_values"]

# Selectors the big mail services and common gateways publish under.
COMMON_DKIM_SELECTORS = (
    "selector1", "selector2", "google", "default", "dkim", "k1", "mail", "s1", "s2",
    "mandrill", "smtp", "mxvault",
)  # fmt: skip


def txt_values(records: list[str] | None) -> list[str]:
    """TXT rdata text -> the joined strings ('"v=spf1 " "-all"' -> 'v=spf1 -all')."""
    return ["".join(re.findall(r'"((?:[^"\\]|\\.)*)"', r)) or r for r in records or []]


def _txt(resolver: dns.resolver.Resolver):
    def fetch(name: str) -> list[str] | None:
        values = lookup(resolver, name, "TXT")
        return None if values is None else txt_values(values)

    return fetch


def spf(resolver: dns.resolver.Resolver, domain: str) -> dict:
    txt = _txt(resolver)
    record, error = spf_parse.spf_record(txt(domain))
    result: dict = {
        "record": record,
        "valid": record is not None and error is None,
        "error": error,
        "dns_lookups": None,
        "void_dns_lookups": None,
        "all": all_qualifier(record),
        "mechanisms": record.split()[1:] if record else [],
        "warnings": [],
    }
    if record:
        lookups, void, warnings = spf_parse.count_lookups(domain, record, txt)
        result.update(dns_lookups=lookups, void_dns_lookups=void, warnings=warnings)
        if lookups > SPF_LOOKUP_LIMIT:
            result["valid"] = False
            result["error"] = f"{lookups} DNS lookups, more than {SPF_LOOKUP_LIMIT}"
    return result


def dmarc(resolver: dns.resolver.Resolver, domain: str) -> dict:
    txt = _txt(resolver)
    location, record = domain, None
    for name in (domain, spf_parse.organisational_domain(domain)):
        if not name:
            continue
        records = [v for v in txt(f"_dmarc.{name}") or [] if v.lower().startswith("v=dmarc1")]
        if records:
            location, record = name, records[0]
            break
    tags = spf_parse.dmarc_tags(record) if record else {}
    return {
        "record": record,
        "location": location if record else None,
        "valid": bool(record) and tags.get("p", "").lower() in ("none", "quarantine", "reject"),
        "error": None if record is None or "p" in tags else "no p= tag",
        "policy": tags.get("p"),
        "subdomain_policy": tags.get("sp"),
        "pct": tags.get("pct"),
        "rua": [u.strip() for u in tags.get("rua", "").split(",") if u.strip()],
    }


def dkim(resolver: dns.resolver.Resolver, domain: str, selectors: Iterable[str]) -> dict:
    found = {}
    for selector in dict.fromkeys(selectors):
        values = txt_values(lookup(resolver, f"{selector}._domainkey.{domain}", "TXT"))
        keys = [v for v in values if "p=" in v]
        if keys:
            found[selector] = keys[0]
    return {"selectors_checked": list(dict.fromkeys(selectors)), "found": found}


def tagged_txt(resolver: dns.resolver.Resolver, name: str, prefix: str) -> str | None:
    for value in txt_values(lookup(resolver, name, "TXT")):
        if value.lower().startswith(prefix.lower()):
            return value
    return None


def email_security(
    resolver: dns.resolver.Resolver, domain: str, dkim_selectors: Iterable[str] = ()
) -> dict:
    selectors = [*dkim_selectors, *COMMON_DKIM_SELECTORS]
    return {
        "spf": spf(resolver, domain),
        "dmarc": dmarc(resolver, domain),
        "dkim": dkim(resolver, domain, selectors),
        "mta_sts": tagged_txt(resolver, f"_mta-sts.{domain}", "v=STSv1"),
        "tls_rpt": tagged_txt(resolver, f"_smtp._tls.{domain}", "v=TLSRPTv1"),
    }
