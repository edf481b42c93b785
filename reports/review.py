"""The report's firewall review section (issue 17), from the newest finished review run:
per device the internet exposure table first, then the findings with their config lines, and
the rules added, removed or changed since the previous review. Built from the store only."""

from __future__ import annotations

from typing import Any

from inventory import queries
from inventory import review as stored
from inventory.store import Store

KIND = stored.KIND


def section(store: Store, upto: int | None) -> dict[str, Any] | None:
    """None when no review run exists."""
    run = queries.run_of_kind(store, KIND, upto=upto)
    if run is None:
        return None
    doc = queries.run_document(store, run.id, KIND)
    if not doc:
        return None
    devices = []
    for d in doc.get("devices", []):
        devices.append(
            {
                "device": d.get("device", ""),
                "platform": d.get("platform", ""),
                "untrusted": d.get("untrusted", []),
                "untrusted_source": d.get("untrusted_source", ""),
                "exposures": [
                    {
                        k: e.get(k)
                        for k in (
                            "nat",
                            "external",
                            "internal",
                            "protocol",
                            "ports",
                            "service",
                            "sources",
                            "rules",
                            "sensitive",
                        )
                    }
                    for e in d.get("exposures", [])
                ],
                "findings": [
                    {
                        k: f.get(k)
                        for k in ("id", "severity", "title", "subject", "table", "detail", "lines")
                    }
                    for f in d.get("findings", [])
                ],
                "rules": len(d.get("rules", [])),
                "errors": d.get("errors", []),
            }
        )
    diff = doc.get("diff") or {}
    return {
        "run_id": run.id,
        "source": doc.get("source", ""),
        "devices": devices,
        "previous_run_id": diff.get("previous_run_id"),
        "changes": {k: diff.get(k, []) for k in ("added", "removed", "changed")},
        # every rule base, one row per rule, for the CSV export
        "rule_rows": [
            {k: v for k, v in row.items() if k != "fingerprint"}
            for row in stored.rules(store, run.id)
        ],
    }


def tables(review: dict[str, Any] | None) -> dict[str, tuple[list[str], list]]:
    """CSV tables: every rule base of the run (one row per rule) and every finding."""
    if review is None:
        return {}
    columns = [c for c in stored.COLUMNS if c != "fingerprint"]
    return {
        "firewall_rules": (columns, [[r[c] for c in columns] for r in review["rule_rows"]]),
        "firewall_findings": (
            ["device", "severity", "id", "table", "subject", "detail", "lines"],
            [[d["device"], f["severity"], f["id"], f["table"], f["subject"], f["detail"],
              f["lines"]] for d in review["devices"] for f in d["findings"]],
        ),
    }  # fmt: skip
