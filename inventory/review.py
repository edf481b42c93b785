"""Review runs in the store (issue 17): every rule of every firewall per run, the findings,
the document; and which rules were added, removed or changed since the previous run.

A rule is keyed by (device, table, rule id); it *changed* when its fingerprint (a hash of
what it matches and does: action, addresses, services, zones, logging, enabled) differs, so a
renumbered position alone is not a change but an edited source is.
"""

from __future__ import annotations

from typing import Any

from agent.core.jsontext import compact
from inventory.store import Store, finished

KIND = "review"
FINDING_SOURCE = "review"
COLUMNS = (
    "device", "platform", "tbl", "rule_id", "pos", "verdict", "sources", "destinations",
    "services", "src_zones", "dst_zones", "logged", "enabled", "hits", "implicit", "fingerprint",
)  # fmt: skip


def save(store: Store, run_id: int, document: dict[str, Any]) -> None:
    """Write one review run (rules, findings, document) in one transaction."""
    rows = [
        (run_id, *(rule[c] for c in COLUMNS))
        for device in document.get("devices", [])
        for rule in device.get("rules", [])
    ]
    with store.transaction() as db:
        db.execute("DELETE FROM review_rules WHERE run_id = ?", (run_id,))
        db.executemany(
            f"INSERT OR REPLACE INTO review_rules (run_id, {', '.join(COLUMNS)})"
            f" VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
            rows,
        )
        db.executemany(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run_id, FINDING_SOURCE, f["id"], f["severity"],
                 f"{f['device']}: {f['subject']}", f["detail"])
                for device in document.get("devices", [])
                for f in device.get("findings", [])
            ],
        )  # fmt: skip
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, KIND, compact(document, sort_keys=True)),
        )


def previous_rules(
    store: Store, before: int, devices: list[str]
) -> tuple[int | None, list[dict[str, Any]]]:
    """Each device's rules as the newest finished review run older than ``before`` that read
    it stored them (devices are often reviewed one backup at a time), and the newest of
    those runs."""
    rows: list[dict[str, Any]] = []
    newest = None
    for device in devices:
        row = store.db.execute(
            "SELECT MAX(q.run_id) FROM review_rules q JOIN runs r ON r.id = q.run_id"
            f" WHERE q.device = ? AND q.run_id < ? AND {finished('r.status')}",
            (device, before),
        ).fetchone()
        if row and row[0] is not None:
            rows += rules(store, row[0], device)
            newest = max(newest or 0, row[0])
    return newest, rows


def rules(store: Store, run_id: int, device: str | None = None) -> list[dict[str, Any]]:
    """The rules stored for ``run_id`` (one device's, or all), in table and position order."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM review_rules WHERE run_id = ?"
    args: list[Any] = [run_id]
    if device is not None:
        sql += " AND device = ?"
        args.append(device)
    rows = store.db.execute(sql + " ORDER BY device, tbl, pos", args).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def diff(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> dict[str, list]:
    """Rules added, removed and changed between two runs' rows, per (device, table, id);
    only devices present in both runs are compared (a device not read this time is not a
    device whose rules were all removed)."""
    devices = {r["device"] for r in previous} & {r["device"] for r in current}
    before = {(r["device"], r["tbl"], r["rule_id"]): r for r in previous if r["device"] in devices}
    after = {(r["device"], r["tbl"], r["rule_id"]): r for r in current if r["device"] in devices}

    def key(k: tuple[str, str, str]) -> dict[str, str]:
        return {"device": k[0], "table": k[1], "rule": k[2]}

    return {
        "added": [key(k) for k in sorted(after.keys() - before.keys())],
        "removed": [key(k) for k in sorted(before.keys() - after.keys())],
        "changed": [
            key(k) | {"fields": _changed_fields(before[k], after[k])}
            for k in sorted(after.keys() & before.keys())
            if before[k]["fingerprint"] != after[k]["fingerprint"]
        ],
    }


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    fields = ("verdict", "sources", "destinations", "services", "src_zones", "dst_zones",
              "logged", "enabled")  # fmt: skip
    return [f for f in fields if old[f] != new[f]]
