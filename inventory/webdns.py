"""Store a ``keyturn dns`` run: public DNS records, TLS certificates, findings, the document;
and what changed since the previous run.

Records are rows of (domain, name, type, value) per run, certificates one row per (host, port)
per run, so a diff is two set comparisons. A changed MX or NS is critical: whoever controls
them receives the client's mail or answers for the whole domain.
"""

from __future__ import annotations

from typing import Any

from agent.core.jsontext import compact
from inventory.store import Store

KIND = "dns"
FINDING_SOURCE = "dns"
CRITICAL_TYPES = frozenset({"MX", "NS"})


def save(store: Store, run_id: int, document: dict[str, Any]) -> None:
    """Write one dns run in one transaction."""
    with store.transaction() as db:
        db.executemany(
            "INSERT OR IGNORE INTO dns_records (run_id, domain, name, rtype, value)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (run_id, domain["name"], *key.rsplit(" ", 1), value)
                for domain in document.get("domains", [])
                for key, values in domain.get("records", {}).items()
                for value in values
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO certificates (run_id, host, port, subject, issuer, sans,"
            " serial, not_before, not_after, key_type, key_bits, signature_hash, self_signed,"
            " protocol, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, c["host"], c["port"], c.get("subject"), c.get("issuer"),
                 compact(c.get("sans") or []), c.get("serial"), c.get("not_before"),
                 c.get("not_after"), (c.get("key") or {}).get("type"),
                 (c.get("key") or {}).get("bits"), c.get("signature_hash"),
                 None if c.get("self_signed") is None else int(c["self_signed"]),
                 c.get("protocol"), c.get("error"))
                for c in document.get("certificates", [])
            ],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run_id, FINDING_SOURCE, f["id"], f["severity"], f["target"], f["detail"])
                for f in document.get("findings", [])
            ],
        )
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, KIND, compact(document, sort_keys=True)),
        )


def previous_run(store: Store, before: int) -> int | None:
    """The newest finished run older than ``before`` that left a dns document."""
    row = store.db.execute(
        "SELECT r.id FROM runs r JOIN run_documents d ON d.run_id = r.id"
        " WHERE d.kind = ? AND r.id < ? AND r.status NOT IN ('running', 'incomplete', 'failed')"
        " ORDER BY r.id DESC LIMIT 1",
        (KIND, before),
    ).fetchone()
    return int(row[0]) if row else None


def records_of(store: Store, run_id: int) -> dict[tuple[str, str, str], set[str]]:
    found: dict[tuple[str, str, str], set[str]] = {}
    for row in store.db.execute(
        "SELECT domain, name, rtype, value FROM dns_records WHERE run_id = ?", (run_id,)
    ):
        found.setdefault((row[0], row[1], row[2]), set()).add(row[3])
    return found


def certificates_of(store: Store, run_id: int) -> dict[tuple[str, int], dict[str, Any]]:
    rows = store.db.execute("SELECT * FROM certificates WHERE run_id = ?", (run_id,))
    return {(r["host"], r["port"]): dict(r) for r in rows}


def diff(store: Store, old_run: int | None, new_run: int | None) -> list[dict[str, Any]]:
    """Record and certificate changes between two dns runs, in the report's change shape.

    Only domains both runs looked at are compared: a domain added to the config is not a
    dozen "record added" changes."""
    if old_run is None or new_run is None or old_run == new_run:
        return []
    old, new = records_of(store, old_run), records_of(store, new_run)
    domains = {k[0] for k in old} & {k[0] for k in new}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        domain, name, rtype = key
        if domain not in domains:
            continue
        before, after = old.get(key, set()), new.get(key, set())
        if before == after:
            continue
        kind = (
            "dns_record_added"
            if not before
            else "dns_record_removed"
            if not after
            else "dns_record_changed"
        )
        severity = "critical" if rtype in CRITICAL_TYPES else "medium"
        changes.append(
            _change(
                kind,
                severity,
                f"{name} {rtype}",
                domain,
                "; ".join(sorted(before)) or None,
                "; ".join(sorted(after)) or None,
            )
        )
    old_certs, new_certs = certificates_of(store, old_run), certificates_of(store, new_run)
    for key in sorted(old_certs.keys() | new_certs.keys()):
        subject = f"{key[0]}:{key[1]}"
        before, after = old_certs.get(key), new_certs.get(key)
        if before is None:
            changes.append(
                _change("certificate_added", "medium", subject, None, None, _label(after))
            )
        elif after is None:
            changes.append(
                _change("certificate_removed", "low", subject, None, _label(before), None)
            )
        elif (before["serial"], before["subject"]) != (after["serial"], after["subject"]):
            changes.append(
                _change(
                    "certificate_changed", "medium", subject, None, _label(before), _label(after)
                )
            )
    return changes


def _label(cert: dict[str, Any] | None) -> str | None:
    if not cert:
        return None
    if cert.get("error"):
        return f"no certificate ({cert['error']})"
    return f"{cert['subject']} until {(cert['not_after'] or '')[:10]}"


def _change(
    kind: str, severity: str, subject: str, group: str | None, old: Any, new: Any
) -> dict[str, Any]:
    return {
        "change": kind,
        "severity": severity,
        "subject": subject,
        "group": group,
        "old": old,
        "new": new,
        "detail": f"{old or '-'} -> {new or '-'}" if kind.endswith("changed") else None,
    }
