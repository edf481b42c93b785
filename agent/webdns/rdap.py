"""Registration data over RDAP (whoisit), from a bootstrap file the site config names.

whoisit would otherwise download IANA's bootstrap files and follow "related" links to any
registrar's server. Here it gets only the file given (``[dns] rdap_bootstrap``), every RDAP
endpoint in it must be an address the scope guard allows (a name would be resolved by the
system resolver), related links are not followed, and proxies from the environment are
ignored. Without a bootstrap file there is no registration lookup at all.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from agent.core.errors import ScopeError, UsageError
from agent.core.scope import ScopeGuard

_BOOTSTRAP_LOCK = threading.Lock()


def load_bootstrap(path: str, guard: ScopeGuard) -> str:
    """The bootstrap JSON text, after checking every endpoint against the scope."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"rdap_bootstrap {path}: not a readable JSON file ({exc})") from None
    for kind in ("dns", "asn", "ipv4", "ipv6", "object"):
        for service in (data.get(kind) or {}).get("services", []):
            for url in service[-1] if isinstance(service, list) and service else []:
                check_endpoint(url, guard)
    return text


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


def lookup(domain: str, bootstrap_text: str, timeout: float = 5.0) -> dict:
    """Registrar, expiry, status and nameservers of ``domain``, or ``{"error": ...}``."""
    import requests
    import whoisit
    from whoisit.errors import WhoisItError

    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY from the environment
    session.request = _with_timeout(session.request, timeout)  # type: ignore[method-assign]
    try:
        with _BOOTSTRAP_LOCK:  # whoisit keeps one module-wide bootstrap; domains run in threads
            if not whoisit.is_bootstrapped():
                whoisit.load_bootstrap_data(bootstrap_text, allow_insecure=True)
        answer = whoisit.domain(domain, session=session, follow_related=False)
    except (WhoisItError, requests.RequestException, ValueError, KeyError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return summarise(answer)


def summarise_raw(raw: dict, domain: str) -> dict:
    """A raw RDAP answer (a recorded one in the tests) through whoisit's parser."""
    import whoisit
    from whoisit.errors import WhoisItError
    from whoisit.parser import parse

    try:
        return summarise(parse(whoisit._bootstrap, "domain", domain, raw))
    except (WhoisItError, ValueError, KeyError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def summarise(answer: dict) -> dict:
    """whoisit's parsed answer -> the fields keyturn records (tested on recorded answers)."""
    registrars = (answer.get("entities") or {}).get("registrar") or [{}]
    registrar = answer.get("registrar") or registrars[0]
    expires = answer.get("expiration_date")
    return {
        "registrar": registrar.get("name") or registrar.get("org") or None,
        "expires": expires.isoformat() if isinstance(expires, datetime) else expires,
        "registered": _iso(answer.get("registration_date")),
        "status": sorted(str(s) for s in answer.get("status") or []),
        "nameservers": sorted(str(n).lower() for n in answer.get("nameservers") or []),
    }


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _with_timeout(request, timeout: float):
    def call(method, url, **kwargs):
        kwargs.setdefault("timeout", timeout)
        return request(method, url, **kwargs)

    return call
