"""The report's "Web and DNS" section: domains, certificates on an expiry timeline, AD zones,
findings and the record/certificate changes since the previous ``keyturn dns`` run.

Built from the store only (the dns run's document and inventory.webdns's diff), like every
other section; ``section`` gives the dict, ``tables`` its CSV tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inventory import queries, webdns
from inventory.store import Store

# Days-left buckets of the certificate expiry timeline.
BUCKETS = ((0, "expired"), (30, "under 30 days"), (90, "under 90 days"), (365, "under a year"))


def section(store: Store, upto: int | None, diff_from: int | None) -> dict[str, Any] | None:
    """The section for the newest dns run at or before ``upto``; None when there is none."""
    run = queries.run_of_kind(store, webdns.KIND, upto=upto)
    if run is None:
        return None
    doc = queries.run_document(store, run.id, webdns.KIND)
    if diff_from is not None:
        base = queries.run_of_kind(store, webdns.KIND, upto=diff_from)
        baseline = base.id if base else None
    else:
        baseline = webdns.previous_run(store, run.id)
    now = datetime.now(UTC)
    certificates = sorted(
        (_certificate(c, now) for c in doc.get("certificates", []) if not c.get("error")),
        key=lambda c: c["days_left"] if c["days_left"] is not None else 1e9,
    )
    return {
        "run_id": run.id,
        "baseline_run_id": baseline,
        "checked_at": doc.get("checked_at"),
        "domains": [_domain(d) for d in doc.get("domains", [])],
        "certificates": certificates,
        "unreachable": [
            f"{c['host']}:{c['port']}: {c['error']}"
            for c in doc.get("certificates", [])
            if c.get("error")
        ],
        "internal_zones": [
            {
                "name": z["name"],
                "partition": z.get("partition"),
                "records": len(z["records"]),
                "findings": len(z.get("findings", [])),
            }
            for z in doc.get("internal_zones", [])
        ],
        "findings": doc.get("findings", []),
        "changes": webdns.diff(store, baseline, run.id) if baseline != run.id else [],
    }


def _domain(d: dict[str, Any]) -> dict[str, Any]:
    mail = d.get("email_security") or {}
    registration = d.get("registration") or {}
    return {
        "name": d["name"],
        "registrar": registration.get("registrar"),
        "expires": registration.get("expires"),
        "mx": d.get("records", {}).get(f"{d['name']} MX", []),
        "ns": d.get("records", {}).get(f"{d['name']} NS", []),
        "spf": (mail.get("spf") or {}).get("record"),
        "dmarc_policy": (mail.get("dmarc") or {}).get("policy"),
        "dnssec": bool((d.get("dnssec") or {}).get("validates")),
        "findings": [f["id"] for f in d.get("findings", [])],
    }


def _certificate(c: dict[str, Any], now: datetime) -> dict[str, Any]:
    left = None
    if c.get("not_after"):
        left = int((datetime.fromisoformat(c["not_after"]) - now).total_seconds() // 86400)
    bucket = next((label for limit, label in BUCKETS if left is not None and left < limit), "later")
    key = c.get("key") or {}
    return {
        "target": f"{c['host']}:{c['port']}",
        "host": c["host"],
        "port": c["port"],
        "subject": c.get("subject"),
        "issuer": c.get("issuer"),
        "sans": c.get("sans") or [],
        "not_after": c.get("not_after"),
        "days_left": left,
        "bucket": bucket,
        # <meter> needs no inline style (the report's CSP allows none): 0..400 days.
        "meter": max(0, min(400, left if left is not None else 0)),
        "key": f"{key.get('type', '')} {key.get('bits') or ''}".strip(),
        "protocol": c.get("protocol"),
        "self_signed": c.get("self_signed"),
        "findings": [f["id"] for f in c.get("findings", [])],
    }


def tables(section_: dict[str, Any] | None) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """CSV tables of the section (none when the store has no dns run)."""
    if not section_:
        return {}
    return {
        "dns_domains": (
            [
                "domain",
                "registrar",
                "expires",
                "ns",
                "mx",
                "spf",
                "dmarc_policy",
                "dnssec",
                "findings",
            ],
            [
                [
                    d["name"],
                    d["registrar"],
                    d["expires"],
                    d["ns"],
                    d["mx"],
                    d["spf"],
                    d["dmarc_policy"],
                    d["dnssec"],
                    d["findings"],
                ]
                for d in section_["domains"]
            ],
        ),
        "certificates": (
            [
                "host",
                "port",
                "subject",
                "issuer",
                "sans",
                "not_after",
                "days_left",
                "key",
                "protocol",
                "self_signed",
                "findings",
            ],
            [
                [
                    c["host"],
                    c["port"],
                    c["subject"],
                    c["issuer"],
                    c["sans"],
                    c["not_after"],
                    c["days_left"],
                    c["key"],
                    c["protocol"],
                    c["self_signed"],
                    c["findings"],
                ]
                for c in section_["certificates"]
            ],
        ),
        "dns_findings": (
            ["id", "severity", "target", "detail"],
            [[f["id"], f["severity"], f["target"], f["detail"]] for f in section_["findings"]],
        ),
        "dns_changes": (
            ["change", "severity", "subject", "domain", "old", "new"],
            [
                [c["change"], c["severity"], c["subject"], c["group"], c["old"], c["new"]]
                for c in section_["changes"]
            ],
        ),
    }
