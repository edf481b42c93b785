"""Store an AD audit run: directory objects, effective group memberships, findings, document.

Rows hang off the run id, so "who was a Domain Admin at run N" and "what changed between two
audits" are plain queries. Nothing written here can hold a secret: the audit never reads
password attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.core.jsontext import compact

if TYPE_CHECKING:
    from inventory.store import Store

DOCUMENT_KIND = "ad"
FINDING_SOURCE = "ad"


@dataclass(frozen=True)
class DirectoryObjectRow:
    """One account, group or computer as stored; ``attributes`` is its public summary."""

    sid: str
    sam: str | None
    dn: str | None
    kind: str
    enabled: bool
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MembershipRow:
    """One effective member of a privileged group, with the nesting path that makes it one."""

    group_sid: str
    group_name: str | None
    member_sid: str
    member_sam: str | None
    member_dn: str | None
    member_kind: str
    enabled: bool
    path: tuple[str, ...] = ()
    via_primary_group: bool = False


@dataclass(frozen=True)
class FindingRow:
    rule: str
    severity: str
    subject: str
    detail: str


@dataclass
class DirectoryAudit:
    """What one AD audit stores: plain rows the directory package fills in."""

    objects: list[DirectoryObjectRow]
    memberships: list[MembershipRow]  # privileged groups only (readers take every row so)
    findings: list[FindingRow]
    document: dict[str, Any]


def save_audit(store: Store, run_id: int, audit: DirectoryAudit) -> None:
    """Write one audit in one transaction."""
    with store.transaction() as db:
        db.executemany(
            "INSERT OR REPLACE INTO directory_objects"
            " (run_id, sid, sam, dn, kind, enabled, attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, o.sid, o.sam, o.dn, o.kind, int(o.enabled), compact(o.attributes))
                for o in audit.objects
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO group_memberships (run_id, group_sid, group_name, member_sid,"
            " member_sam, member_dn, member_kind, enabled, path, via_primary_group)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, m.group_sid, m.group_name, m.member_sid, m.member_sam, m.member_dn,
                 m.member_kind, int(m.enabled), compact(list(m.path)),
                 int(m.via_primary_group))
                for m in audit.memberships
            ],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, FINDING_SOURCE, f.rule, f.severity, f.subject, f.detail)
             for f in audit.findings],
        )  # fmt: skip
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, DOCUMENT_KIND, compact(audit.document, sort_keys=True)),
        )


def privileged_members(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Effective memberships stored for a run, one dict per (group, member)."""
    rows = store.db.execute(
        "SELECT * FROM group_memberships WHERE run_id = ? ORDER BY group_name, member_sam",
        (run_id,),
    ).fetchall()
    return [
        {
            **dict(row),
            "path": json.loads(row["path"]),
            "via_primary_group": bool(row["via_primary_group"]),
        }
        for row in rows
    ]


JOURNAL_KIND = "ad_journal"


def save_journal(store: Store, run_id: int, entries: list[dict[str, Any]]) -> None:
    """The remediation journal of an ``ad-apply``/``ad-undo`` run, rewritten after each step
    (one row: a crash between steps leaves every step recorded so far)."""
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, JOURNAL_KIND, compact(entries, sort_keys=True)),
        )


def load_journal(store: Store, run_id: int) -> list[dict[str, Any]] | None:
    row = store.db.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, JOURNAL_KIND)
    ).fetchone()
    return json.loads(row[0]) if row else None


def rotation_candidates(store: Store, which: str) -> list[str]:
    """sAMAccountNames of the latest finished ``ad`` run's enabled user accounts that
    ``rotate --from-directory`` takes: ``service`` (users with SPNs) or ``privileged``
    (effective members of a privileged group). krbtgt and $-accounts are never listed."""
    from inventory.store import finished

    run = store.db.execute(
        "SELECT r.id FROM runs r JOIN run_documents d ON d.run_id = r.id AND d.kind = ?"
        f" WHERE {finished('r.status')} ORDER BY r.id DESC LIMIT 1",
        (DOCUMENT_KIND,),
    ).fetchone()
    if run is None:
        return []
    if which == "privileged":
        rows = store.db.execute(
            "SELECT DISTINCT member_sam AS sam FROM group_memberships WHERE run_id = ?"
            " AND member_kind = 'user' AND enabled != 0 ORDER BY member_sam",
            (run["id"],),
        ).fetchall()
    else:
        rows = [
            row
            for row in store.db.execute(
                "SELECT sam, attributes FROM directory_objects WHERE run_id = ?"
                " AND kind = 'user' AND enabled != 0 ORDER BY sam",
                (run["id"],),
            ).fetchall()
            if json.loads(row["attributes"] or "{}").get("spns")
        ]
    return [
        row["sam"]
        for row in rows
        if row["sam"] and row["sam"].lower() != "krbtgt" and not row["sam"].endswith("$")
    ]


def laps_managed_names(store: Store) -> set[str]:
    """Lower-case names (DNS host name, its first label, sAMAccountName without $) of the
    computers whose LAPS expiry the latest finished ``ad`` run saw (summary key ``laps``)."""
    from inventory.store import finished

    run = store.db.execute(
        "SELECT r.id FROM runs r JOIN run_documents d ON d.run_id = r.id AND d.kind = ?"
        f" WHERE {finished('r.status')} ORDER BY r.id DESC LIMIT 1",
        (DOCUMENT_KIND,),
    ).fetchone()
    if run is None:
        return set()
    names: set[str] = set()
    for row in store.db.execute(
        "SELECT sam, attributes FROM directory_objects WHERE run_id = ? AND kind = 'computer'",
        (run["id"],),
    ):
        attributes = json.loads(row["attributes"] or "{}")
        if not attributes.get("laps"):
            continue
        dns = str(attributes.get("dns_host_name") or "").lower()
        names.update(
            n for n in (dns, dns.split(".")[0], (row["sam"] or "").lower().rstrip("$")) if n
        )
    return names


def applied_journal_entries(store: Store, action: str) -> list[dict[str, Any]]:
    """Every ``applied`` entry of ``action`` in the journals of ``ad-apply`` runs, oldest
    first (the staged krbtgt reset asks when the previous one happened)."""
    rows = store.db.execute(
        "SELECT d.run_id, d.data FROM run_documents d JOIN runs r ON r.id = d.run_id "
        "WHERE d.kind = ? AND r.command = 'ad-apply' ORDER BY d.run_id",
        (JOURNAL_KIND,),
    )
    return [
        {**entry, "run_id": run_id}
        for run_id, data in rows
        for entry in json.loads(data)
        if entry.get("action") == action and entry.get("status") == "applied"
    ]
