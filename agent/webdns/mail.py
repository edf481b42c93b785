"""Email security of one domain: SPF, DMARC, DKIM, MTA-STS, TLS-RPT.

SPF and DMARC are parsed by checkdmarc, always handed our own resolver (so it never builds
one from /etc/resolv.conf) and never asked for what it would fetch over HTTPS (the MTA-STS
policy file, BIMI images). What it lacks is added here: the ``all`` qualifier (checkdmarc
reports ``+all`` as a plain pass), DKIM selectors, and the MTA-STS / TLS-RPT TXT records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dns.resolver

from agent.webdns.dnsdata import lookup

# Selectors the big mail services and common gateways publish under.
COMMON_DKIM_SELECTORS = (
    "selector1", "selector2", "google", "default", "dkim", "k1", "mail", "s1", "s2",
    "mandrill", "smtp", "mxvault",
)  # fmt: skip
SPF_LOOKUP_LIMIT = 10
_ALL = re.compile(r"^([+?~-]?)all$", re.IGNORECASE)


def txt_values(records: list[str] | None) -> list[str]:
    """TXT rdata text -> the joined strings ('"v=spf1 " "-all"' -> 'v=spf1 -all')."""
    return ["".join(re.findall(r'"((?:[^"\\]|\\.)*)"', r)) or r for r in records or []]


def all_qualifier(record: str | None) -> str | None:
    """'+', '?', '~', '-' of the record's ``all`` mechanism ('' counts as '+'), None if absent."""
    for term in (record or "").split()[1:]:
        match = _ALL.match(term)
        if match:
            return match.group(1) or "+"
    return None


def spf(resolver: dns.resolver.Resolver, domain: str) -> dict:
    from checkdmarc.spf import check_spf

    result = check_spf(domain, resolver=resolver)
    record = result.get("record")
    return {
        "record": record,
        "valid": bool(result.get("valid")),
        "error": result.get("error"),
        "dns_lookups": result.get("dns_lookups"),
        "void_dns_lookups": result.get("void_dns_lookups"),
        "all": all_qualifier(record),
        "mechanisms": [str(term) for term in (record or "").split()[1:]],
        "warnings": [str(w) for w in result.get("warnings", [])],
    }


def dmarc(resolver: dns.resolver.Resolver, domain: str) -> dict:
    from checkdmarc.dmarc import check_dmarc

    result = check_dmarc(domain, resolver=resolver)
    tags = result.get("tags") or {}

    def tag(name: str):
        value = tags.get(name)
        return value.get("value") if isinstance(value, dict) else value

    rua = tag("rua")
    return {
        "record": result.get("record"),
        "location": result.get("location"),
        "valid": bool(result.get("valid")),
        "error": result.get("error"),
        "policy": tag("p"),
        "subdomain_policy": tag("sp"),
        "pct": tag("pct"),
        "rua": [
            u.get("address", str(u)) if isinstance(u, dict) else str(u)
            for u in (rua if isinstance(rua, list) else [rua] if rua else [])
        ],
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
