"""The web and DNS checks as a table: id, severity, what it looks at, a predicate.

A predicate takes the collected object and the run's :class:`Context` and returns the
finding's detail (evidence in one line) or None. Ids are a contract (issue 19); docs/dns.md
explains each. ``evaluate`` returns findings as plain dicts ``{id, severity, target, detail}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.webdns.spf import SPF_LOOKUP_LIMIT
from agent.webdns.tlsprobe import days_left, name_matches

EXPIRY_DAYS = 30
WEAK_RSA_BITS = 2048
WEAK_EC_BITS = 224
LEGACY_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})


@dataclass(frozen=True)
class Context:
    now: datetime
    expiry_days: int = EXPIRY_DAYS


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    kind: str  # domain | certificate | http | record
    check: Callable[[dict, Context], str | None]


def _spf(d: dict) -> dict:
    return (d.get("email_security") or {}).get("spf") or {}


def _spf_missing(d: dict, _c: Context) -> str | None:
    return None if _spf(d).get("record") else "no v=spf1 TXT record at the domain"


def _spf_permissive(d: dict, _c: Context) -> str | None:
    qualifier = _spf(d).get("all")
    if qualifier in ("+", "?"):
        return f"'{qualifier}all' lets any server send as the domain: {_spf(d).get('record')}"
    return None


def _spf_lookups(d: dict, _c: Context) -> str | None:
    count = _spf(d).get("dns_lookups")
    if isinstance(count, int) and count > SPF_LOOKUP_LIMIT:
        return f"{count} DNS lookups (limit {SPF_LOOKUP_LIMIT}): receivers return permerror"
    return None


def _dmarc(d: dict) -> dict:
    return (d.get("email_security") or {}).get("dmarc") or {}


def _dmarc_missing(d: dict, _c: Context) -> str | None:
    return None if _dmarc(d).get("record") else f"no TXT record at _dmarc.{d['name']}"


def _dmarc_none(d: dict, _c: Context) -> str | None:
    if _dmarc(d).get("record") and str(_dmarc(d).get("policy")).lower() == "none":
        return f"p=none only monitors: {_dmarc(d)['record']}"
    return None


def _dkim_missing(d: dict, _c: Context) -> str | None:
    dkim = (d.get("email_security") or {}).get("dkim") or {}
    if dkim.get("found"):
        return None
    return f"no DKIM key under {len(dkim.get('selectors_checked', []))} selectors checked"


def _mta_sts_missing(d: dict, _c: Context) -> str | None:
    if (d.get("email_security") or {}).get("mta_sts"):
        return None
    return f"no v=STSv1 TXT at _mta-sts.{d['name']}"


def _caa_missing(d: dict, _c: Context) -> str | None:
    return None if d["records"].get(f"{d['name']} CAA") else "no CAA record: any CA may issue"


def _dnssec_missing(d: dict, _c: Context) -> str | None:
    dnssec = d.get("dnssec") or {}
    if dnssec.get("validates"):
        return None
    if not dnssec.get("ds") and not dnssec.get("dnskey"):
        return "not signed (no DS at the parent, no DNSKEY)"
    return (
        f"signed but not validating: ds={bool(dnssec.get('ds'))} "
        f"dnskey={dnssec.get('dnskey')} {dnssec.get('error') or ''}".strip()
    )


def _axfr(d: dict, _c: Context) -> str | None:
    open_ = [
        f"{t['server']} ({t['address']}, {t.get('names')} names)"
        for t in d.get("zone_transfer", [])
        if t.get("allowed")
    ]
    return f"AXFR answered by {', '.join(open_)}" if open_ else None


def _dangling(d: dict, _c: Context) -> str | None:
    items = [f"{x['name']} -> {x['target']}" for x in d.get("dangling_cnames", [])]
    return f"CNAME to a name that does not exist: {'; '.join(items)}" if items else None


def _domain_expiring(d: dict, c: Context) -> str | None:
    expires = (d.get("registration") or {}).get("expires")
    if not expires:
        return None
    left = (datetime.fromisoformat(expires) - c.now).total_seconds() / 86400
    return (
        f"registration expires {expires[:10]} ({int(left)} days)" if left < c.expiry_days else None
    )


def _cert_expired(x: dict, c: Context) -> str | None:
    left = days_left(x, c.now)
    return f"expired {x['not_after'][:10]}" if left is not None and left < 0 else None


def _cert_expiring(x: dict, c: Context) -> str | None:
    left = days_left(x, c.now)
    if left is not None and 0 <= left < c.expiry_days:
        return f"expires {x['not_after'][:10]} ({int(left)} days)"
    return None


def _cert_self_signed(x: dict, _c: Context) -> str | None:
    return f"self-signed: {x.get('subject')}" if x.get("self_signed") else None


def _cert_weak_key(x: dict, _c: Context) -> str | None:
    key = x.get("key") or {}
    bits, kind = key.get("bits"), key.get("type")
    if bits is None:
        return None
    weak = (kind in ("RSA", "DSA") and bits < WEAK_RSA_BITS) or (
        kind == "EC" and bits < WEAK_EC_BITS
    )
    return f"{kind} {bits} bits" if weak else None


def _cert_sha1(x: dict, _c: Context) -> str | None:
    algorithm = str(x.get("signature_hash") or "").lower()
    return f"signed with {algorithm}" if algorithm in ("sha1", "md5") else None


def _cert_name_mismatch(x: dict, _c: Context) -> str | None:
    names = x.get("names") or []
    if not names or not (x.get("sans") or x.get("common_name")):
        return None  # no name known for the host: nothing to compare
    if name_matches(names, x):
        return None
    return f"certificate names {x.get('sans') or [x.get('common_name')]}, host is {names}"


def _legacy(x: dict, _c: Context) -> str | None:
    protocol = x.get("protocol")
    return f"best protocol offered is {protocol}" if protocol in LEGACY_PROTOCOLS else None


def _no_redirect(x: dict, _c: Context) -> str | None:
    if x.get("error") or not x.get("host_has_https"):
        return None
    if x.get("redirects_to_https"):
        return None
    return f"HTTP on port {x['port']} answers {x.get('status')} without redirecting to HTTPS"


def _stale(r: dict, _c: Context) -> str | None:
    return r.get("stale")


def _dead(r: dict, _c: Context) -> str | None:
    return r.get("dead")


RULES: tuple[Rule, ...] = (
    Rule("spf_missing", "high", "domain", _spf_missing),
    Rule("spf_permissive", "critical", "domain", _spf_permissive),
    Rule("spf_too_many_lookups", "medium", "domain", _spf_lookups),
    Rule("dmarc_missing", "high", "domain", _dmarc_missing),
    Rule("dmarc_policy_none", "medium", "domain", _dmarc_none),
    Rule("dkim_missing", "medium", "domain", _dkim_missing),
    Rule("mta_sts_missing", "low", "domain", _mta_sts_missing),
    Rule("caa_missing", "low", "domain", _caa_missing),
    Rule("dnssec_missing", "low", "domain", _dnssec_missing),
    Rule("zone_transfer_allowed", "high", "domain", _axfr),
    Rule("dangling_cname", "high", "domain", _dangling),
    Rule("domain_expiring", "critical", "domain", _domain_expiring),
    Rule("cert_expired", "high", "certificate", _cert_expired),
    Rule("cert_expiring", "medium", "certificate", _cert_expiring),
    Rule("cert_self_signed", "medium", "certificate", _cert_self_signed),
    Rule("cert_weak_key", "high", "certificate", _cert_weak_key),
    Rule("cert_sha1", "high", "certificate", _cert_sha1),
    Rule("cert_name_mismatch", "medium", "certificate", _cert_name_mismatch),
    Rule("tls_legacy_protocol", "high", "certificate", _legacy),
    Rule("http_no_https_redirect", "low", "http", _no_redirect),
    Rule("dns_stale_record", "low", "record", _stale),
    Rule("dns_record_dead_host", "medium", "record", _dead),
)
RULE_IDS = tuple(rule.id for rule in RULES)


def evaluate(kind: str, item: dict, target: str, ctx: Context) -> list[dict]:
    """Every rule of ``kind`` that fires on ``item``, as finding dicts."""
    findings = []
    for rule in RULES:
        if rule.kind != kind:
            continue
        detail = rule.check(item, ctx)
        if detail:
            findings.append(
                {"id": rule.id, "severity": rule.severity, "target": target, "detail": detail}
            )
    return findings


def context(now: datetime | None = None, expiry_days: int = EXPIRY_DAYS) -> Context:
    return Context(now=now or datetime.now(UTC), expiry_days=expiry_days)
