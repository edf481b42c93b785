"""Store an AD audit run: directory objects, effective group memberships, findings, document.

Rows hang off the run id, so "who was a Domain Admin at run N" and "what changed between two
audits" are plain queries. Nothing written here can hold a secret: the audit never reads
password attributes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.directory.audit import AuditResult
    from inventory.store import Store

DOCUMENT_KIND = "ad"
FINDING_SOURCE = "ad"


def save_audit(store: Store, run_id: int, result: AuditResult, document: dict) -> None:
    """Write one audit in one transaction."""
    with store.transaction() as db:
        db.executemany(
            "INSERT OR REPLACE INTO directory_objects"
            " (run_id, sid, sam, dn, kind, enabled, attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, o.sid, o.sam, o.dn, o.kind, int(o.enabled), json.dumps(o.summary()))
                for o in result.objects
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO group_memberships (run_id, group_sid, group_name, member_sid,"
            " member_sam, member_dn, member_kind, enabled, path, via_primary_group)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, g.found.group.sid, g.found.group.sam, m.obj.sid, m.obj.sam, m.obj.dn,
                 m.obj.public_kind, int(m.obj.enabled), json.dumps(list(m.path)),
                 int(m.via_primary_group))
                for g in result.groups
                if g.found.spec.role == "privileged"  # readers take every row as privileged
                for m in g.members
            ],
        )
        db.executemany(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, FINDING_SOURCE, f.rule, f.severity, f.account, f.detail)
             for f in result.findings],
        )
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, DOCUMENT_KIND, json.dumps(document, sort_keys=True)),
        )


def privileged_members(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Effective memberships stored for a run, one dict per (group, member)."""
    rows = store.db.execute(
        "SELECT * FROM group_memberships WHERE run_id = ? ORDER BY group_name, member_sam",
        (run_id,),
    ).fetchall()
    return [{**dict(row), "path": json.loads(row["path"]),
             "via_primary_group": bool(row["via_primary_group"])} for row in rows]
