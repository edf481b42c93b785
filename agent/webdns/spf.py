"""SPF (RFC 7208) and DMARC (RFC 7489) records, parsed and counted here.

checkdmarc does the same, but importing it costs ~1.2 s of CPU (the public suffix list, BIMI
and SMTP-TLS code, httpx and requests) against a 5 s budget for the whole stage, and it reports
``+all`` as a plain pass. tests/test_dns_lab.py holds this module to checkdmarc's answers on
the lab's domains (record, DNS-lookup count, DMARC policy).

The lookup count follows RFC 7208 4.6.4: ``include``, ``a``, ``mx``, ``ptr``, ``exists`` and
``redirect`` each cost one, counted through every included record; past 10 the record is a
permerror at any receiver. Recursion stops at the limit plus a margin, so a loop of includes
costs a bounded number of queries.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SPF_LOOKUP_LIMIT = 10
_MAX_DEPTH = SPF_LOOKUP_LIMIT + 10
_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists")
_ALL = re.compile(r"^([+?~-]?)all$", re.IGNORECASE)

TxtLookup = Callable[[str], list[str] | None]  # name -> TXT strings, None for NXDOMAIN


def spf_record(values: list[str] | None) -> tuple[str | None, str | None]:
    """(the one v=spf1 record, an error) among a name's TXT strings."""
    records = [v for v in values or [] if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]
    if not records:
        return None, None
    if len(records) > 1:
        return records[0], "more than one v=spf1 record (permerror)"
    return records[0], None


def all_qualifier(record: str | None) -> str | None:
    """'+', '?', '~', '-' of the record's ``all`` mechanism ('' counts as '+'), None if absent."""
    for term in (record or "").split()[1:]:
        match = _ALL.match(term)
        if match:
            return match.group(1) or "+"
    return None


def count_lookups(domain: str, record: str, txt: TxtLookup) -> tuple[int, int, list[str]]:
    """(DNS lookups, void lookups, warnings) of ``record`` at ``domain``, includes followed."""
    state = {"lookups": 0, "void": 0}
    warnings: list[str] = []
    seen: set[str] = set()

    def walk(name: str, text: str, depth: int) -> None:
        if depth > _MAX_DEPTH or state["lookups"] > _MAX_DEPTH:
            return
        for term in text.split()[1:]:
            mechanism = term.lstrip("+-~?")
            key, _, value = mechanism.partition(":")
            key = key.split("/")[0].lower()
            if key.startswith("redirect="):
                key, value = "redirect", mechanism.split("=", 1)[1]
            if key not in (*_LOOKUP_TERMS, "redirect"):
                continue
            state["lookups"] += 1
            if key not in ("include", "redirect") or not value:
                continue
            target = value.rstrip(".").lower()
            if "%{" in target:
                warnings.append(f"{term}: macro not expanded")
                continue
            if target in seen:
                warnings.append(f"{term}: included twice (a loop?)")
                continue
            seen.add(target)
            found, error = spf_record(txt(target))
            if found is None:
                state["void"] += 1
                warnings.append(f"{term}: no SPF record at {target}")
            elif error:
                warnings.append(f"{term}: {error}")
            if found:
                walk(target, found, depth + 1)

    walk(domain, record, 0)
    return state["lookups"], state["void"], warnings


def dmarc_tags(record: str) -> dict[str, str]:
    """'v=DMARC1; p=reject; rua=mailto:a@b' -> {'v': 'DMARC1', 'p': 'reject', ...}."""
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = value.strip()
    return tags


def organisational_domain(domain: str) -> str | None:
    """The parent to fall back to for DMARC (RFC 7489 6.6.3), by label count: without the
    public suffix list keyturn tries the domain's last two labels, which is right for most
    client domains and at worst one query too many."""
    labels = domain.rstrip(".").split(".")
    return ".".join(labels[-2:]) if len(labels) > 2 else None
