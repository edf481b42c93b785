"""The report's "AD remediation" section: what ``keyturn ad apply`` changed in the directory,
by whom and when, what it skipped or was refused and why, and whether ``ad undo`` reverted it.

Built from the apply and undo journals in the store only (``inventory.queries.
remediation_journals``); ``section`` gives the dict, ``tables`` its CSV table, ``markdown``
its lines for the short Markdown report.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from inventory import queries
from inventory.store import Store

HEADERS = ["apply_run", "id", "rule", "action", "target", "status", "reason", "operator",
           "bound_as", "dc", "time", "reversible", "undone_by_run", "undo_status",
           "undo_reason"]  # fmt: skip


def section(store: Store, upto: int | None) -> dict[str, Any] | None:
    """Every journalled action of the apply runs up to ``upto`` (None: all) with its undo;
    None when keyturn never applied a plan."""
    journals = queries.remediation_journals(store, upto)
    if not journals:
        return None
    # The latest undo attempt of each (apply run, action id): an undo skipped because the
    # object changed leaves the change in place, and the report must say so.
    undone: dict[tuple[int, str], dict[str, Any]] = {}
    for run, journal in journals:
        if run.command != "ad-undo":
            continue
        for entry in _entries(journal):
            key = (entry.get("undoes_run"), str(entry.get("id")))
            undone[key] = {
                "run_id": run.id,
                "status": entry.get("status"),
                "reason": entry.get("reason") or "",
                "operator": entry.get("operator"),
                "time": entry.get("finished") or entry.get("time"),
            }
    actions = []
    for run, journal in journals:
        if run.command != "ad-apply":
            continue
        for entry in _entries(journal):
            undo = undone.get((run.id, str(entry.get("id"))))
            actions.append(
                {
                    "apply_run": run.id,
                    "id": str(entry.get("id")),
                    "rule": entry.get("rule"),
                    "action": entry.get("action"),
                    "target": entry.get("target_dn"),
                    "status": entry.get("status"),
                    "reason": entry.get("reason") or "",
                    "operator": entry.get("operator"),
                    "bound_as": entry.get("bound_as"),
                    "dc": entry.get("dc"),
                    "time": entry.get("finished") or entry.get("time"),
                    "reversible": bool(entry.get("reversible")),
                    "undo": undo,
                    "undone": bool(undo and undo["status"] == "applied"),
                }
            )
    statuses = Counter(a["status"] for a in actions)
    return {
        "apply_runs": sorted({a["apply_run"] for a in actions}),
        "undo_runs": [run.id for run, _ in journals if run.command == "ad-undo"],
        "counts": dict(sorted(statuses.items())),
        "undone": sum(1 for a in actions if a["undone"]),
        "actions": actions,
    }


def tables(section: dict[str, Any] | None) -> dict[str, tuple[list[str], list[list[Any]]]]:
    if section is None:
        return {}
    rows = [
        [
            a["apply_run"], a["id"], a["rule"], a["action"], a["target"], a["status"],
            a["reason"], a["operator"], a["bound_as"], a["dc"], a["time"], a["reversible"],
            (a["undo"] or {}).get("run_id"), (a["undo"] or {}).get("status"),
            (a["undo"] or {}).get("reason"),
        ]
        for a in section["actions"]
    ]  # fmt: skip
    return {"remediation": (HEADERS, rows)}


def markdown(section: dict[str, Any] | None, md) -> list[str]:
    """The Markdown report's lines: counts, then every action not applied with its reason
    (the ones a reader has to act on); ``md`` escapes a value."""
    if section is None:
        return []
    counts = ", ".join(f"{n} {md(s)}" for s, n in section["counts"].items())
    lines = ["", "## AD remediation", "",
             f"Apply runs {', '.join(map(str, section['apply_runs']))}: {counts}; "
             f"{section['undone']} undone."]  # fmt: skip
    open_items = [a for a in section["actions"] if a["status"] != "applied"]
    if open_items:
        lines.append("")
        lines += [
            f"- {md(a['status'])} {md(a['action'])} {md(a['target'])}: {md(a['reason'])}"
            for a in open_items
        ]
    return lines


def _entries(journal: Any) -> list[dict[str, Any]]:
    """A stored journal is the store's own data, but a hand-edited or truncated one must not
    break the report: keep the dict entries only."""
    return [e for e in journal if isinstance(e, dict)] if isinstance(journal, list) else []
