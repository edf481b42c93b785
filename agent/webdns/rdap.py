"""Registration data over RDAP (RFC 9083), from a bootstrap file the site config names.

A client such as whoisit would download IANA's bootstrap files, follow "related" links to any
registrar's server, honour proxy variables, and cost ~0.6 s of CPU to import (requests, httpx,
dateutil). Here: only the bootstrap file given (``[dns] rdap_bootstrap``, IANA's format, or
whoisit's saved form that wraps it), every endpoint in it must be an address the scope guard
allows (a name would be resolved by the system resolver), one GET per domain over http.client
with a timeout, no redirect or related link followed. Without a bootstrap file there is no
registration lookup at all. Answers are hostile: anything malformed becomes ``{"error"}``.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from agent.core.errors import ScopeError, UsageError
from agent.core.scope import ScopeGuard

MAX_ANSWER_BYTES = 1 << 20


def load_bootstrap(path: str, guard: ScopeGuard) -> dict[str, list[str]]:
    """TLD -> RDAP base URLs from the file, after checking every endpoint against the scope."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"rdap_bootstrap {path}: not a readable JSON file ({exc})") from None
    services = (data.get("dns") or data).get("services") if isinstance(data, dict) else None
    if not isinstance(services, list):
        raise UsageError(f"rdap_bootstrap {path}: no dns services list")
    table: dict[str, list[str]] = {}
    for service in services:
        if not (isinstance(service, list) and len(service) == 2):
            raise UsageError(f"rdap_bootstrap {path}: malformed service entry {service!r:.80}")
        tlds, urls = service
        for url in urls:
            check_endpoint(str(url), guard)
        for tld in tlds:
            table[str(tld).lower().strip(".")] = [str(u) for u in urls]
    return table


def check_endpoint(url: str, guard: ScopeGuard) -> None:
    host = urlparse(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ScopeError(
            f"RDAP endpoint {url}: give an address, not a name "
            "(a name would be resolved by this machine's resolver)"
        ) from None
    guard.check(host)


def lookup(domain: str, bootstrap: dict[str, list[str]], timeout: float = 5.0) -> dict:
    """Registrar, expiry, status and nameservers of ``domain``, or ``{"error": ...}``."""
    labels = domain.lower().rstrip(".").split(".")
    # The longest suffix the bootstrap knows ("co.uk" before "uk").
    suffix = next((".".join(labels[i:]) for i in range(len(labels))
                   if ".".join(labels[i:]) in bootstrap), None)  # fmt: skip
    if suffix is None:
        return {"error": f"no RDAP server for .{labels[-1]} in the bootstrap file"}
    url = bootstrap[suffix][0]
    try:
        answer = _get(url.rstrip("/") + "/domain/" + quote(domain.lower()), timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"error": f"{url}: {type(exc).__name__}: {exc}"[:300]}
    return summarise(answer)


def _get(url: str, timeout: float) -> Any:
    parts = urlparse(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Accept": "application/rdap+json"})
        response = conn.getresponse()
        body = response.read(MAX_ANSWER_BYTES)
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        return json.loads(body)
    finally:
        conn.close()


def summarise(answer: Any) -> dict:
    """An RDAP domain answer -> the fields keyturn records (tested on recorded answers)."""
    if not isinstance(answer, dict) or answer.get("objectClassName") not in ("domain", None):
        return {"error": "not an RDAP domain answer"}
    events = {str(e.get("eventAction", "")).lower(): e.get("eventDate")
              for e in _list(answer.get("events")) if isinstance(e, dict)}  # fmt: skip
    return {
        "registrar": _registrar(_list(answer.get("entities"))),
        "expires": _date(events.get("expiration")),
        "registered": _date(events.get("registration")),
        "status": sorted(str(s) for s in _list(answer.get("status"))),
        "nameservers": sorted(
            str(n.get("ldhName", "")).lower().rstrip(".")
            for n in _list(answer.get("nameservers"))
            if isinstance(n, dict) and n.get("ldhName")
        ),
    }


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _registrar(entities: list) -> str | None:
    for entity in entities:
        if isinstance(entity, dict) and "registrar" in _list(entity.get("roles")):
            return _vcard_name(entity.get("vcardArray")) or entity.get("handle")
    return None


def _vcard_name(vcard: Any) -> str | None:
    if not (isinstance(vcard, list) and len(vcard) == 2 and isinstance(vcard[1], list)):
        return None
    for item in vcard[1]:
        if isinstance(item, list) and len(item) >= 4 and item[0] == "fn":
            return str(item[3])
    return None


def _date(value: Any) -> str | None:
    """ISO 8601 with a zone, or None for a date that does not parse."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.isoformat() if parsed.tzinfo else None
