"""Read-side queries over the inventory: "state as of run N" and "what changed from A to B".

Nothing here writes. Producers (discover, ad, rotate) store one observation set per run, so
the state as of run N is simply the newest finished run of each kind at or before N, and a
diff compares two such runs. A run "is" a discover/ad/rotate run when its command says so or
when it left a run document of that kind (``onboard`` runs do all three at once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from inventory import hosts
from inventory.hosts import Change
from inventory.model import Host, Observation, Port
from inventory.store import Run, Store, _run, finished

KINDS = ("discover", "ad", "rotate")
_DONE = finished()
# The groups whose new members an auditor must see first; anything else privileged is "high".
CRITICAL_GROUPS = frozenset(
    {"Domain Admins", "Enterprise Admins", "Schema Admins", "Administrators"}
)


@dataclass(frozen=True)
class RunSet:
    """The runs a report describes: newest discover and ad run, and the rotation cut-off."""

    discover: Run | None
    ad: Run | None
    upto: int | None  # include rotations from runs with id <= upto (None: all)


def run_of_kind(store: Store, kind: str, *, upto: int | None = None) -> Run | None:
    """The newest finished run of ``kind`` with id <= ``upto`` (or overall)."""
    clauses = [
        _DONE,
        "(command = ? OR EXISTS (SELECT 1 FROM run_documents d"
        " WHERE d.run_id = runs.id AND d.kind = ?))",
    ]
    args: list[Any] = [kind, kind]
    if upto is not None:
        clauses.append("id <= ?")
        args.append(upto)
    row = store.db.execute(
        f"SELECT * FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT 1", args
    ).fetchone()
    return _run(row) if row else None


def state_runs(store: Store, upto: int | None = None) -> RunSet:
    """The state as of run ``upto`` (None: the latest finished run of each kind)."""
    return RunSet(
        run_of_kind(store, "discover", upto=upto), run_of_kind(store, "ad", upto=upto), upto
    )


def previous_runs(store: Store, current: RunSet) -> RunSet:
    """The default baseline for "changes since": the run of each kind before the current one."""
    discover = (
        run_of_kind(store, "discover", upto=current.discover.id - 1) if current.discover else None
    )
    ad = run_of_kind(store, "ad", upto=current.ad.id - 1) if current.ad else None
    return RunSet(discover, ad, None)


def run_document(store: Store, run_id: int | None, kind: str) -> dict[str, Any]:
    if run_id is None:
        return {}
    row = store.db.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, kind)
    ).fetchone()
    return _loads(row["data"], {}) if row else {}


def hosts_as_of(store: Store, run_id: int | None) -> list[Observation]:
    """Every host observed in discover run ``run_id`` with its ports, sorted by IP."""
    if run_id is None:
        return []
    ports: dict[int, list[Port]] = {}
    for row in store.db.execute(
        "SELECT * FROM services WHERE run_id = ? ORDER BY port, proto", (run_id,)
    ):
        ports.setdefault(row["host_id"], []).append(
            Port(**{k: row[k] for k in ("port", "proto", "state", "service", "product", "version")})
        )
    found = []
    for row in store.db.execute(
        "SELECT o.*, h.first_run FROM host_observations o JOIN hosts h ON h.id = o.host_id"
        " WHERE o.run_id = ?",
        (run_id,),
    ):
        extra = _loads(row["extra"], None)
        extra = extra if isinstance(extra, dict) else {}
        host = Host(
            ip=row["ip"],
            mac=row["mac"],
            vendor=row["vendor"],
            mac_randomized=bool(row["mac_randomized"]),
            hostnames=_loads(row["hostnames"], []),
            sources=_loads(row["sources"], []),
            ports=ports.get(row["host_id"], []),
            os={"name": row["os_name"], "accuracy": row["os_accuracy"]},
            snmp=_loads(row["snmp"], None),
            http_title=extra.get("http_title"),
            device_class=row["device_class"],
            platform=row["platform"],
            platform_confidence=row["platform_confidence"],
            rule=extra.get("rule"),
        )
        found.append(Observation(host, row["host_id"], row["first_run"]))
    return sorted(found, key=lambda o: ip_sort_key(o.host.ip))


def memberships_as_of(store: Store, run_id: int | None) -> list[dict[str, Any]]:
    """Privileged group memberships recorded by AD run ``run_id``."""
    if run_id is None:
        return []
    return [
        {
            "group_sid": row["group_sid"],
            "group": row["group_name"],
            "sid": row["member_sid"],
            "sam": row["member_sam"],
            "dn": row["member_dn"],
            "kind": row["member_kind"],
            "enabled": None if row["enabled"] is None else bool(row["enabled"]),
            "path": _loads(row["path"], []),
            "via_primary_group": bool(row["via_primary_group"]),
        }
        for row in store.db.execute(
            "SELECT * FROM group_memberships WHERE run_id = ? ORDER BY group_name, member_sam",
            (run_id,),
        )
    ]


def findings_of(store: Store, run_id: int | None) -> list[dict[str, Any]]:
    if run_id is None:
        return []
    return [
        {
            "source": row["source"],
            "rule": row["rule"],
            "severity": row["severity"],
            "subject": row["subject"],
            "detail": row["detail"],
        }
        for row in store.db.execute(
            "SELECT * FROM findings WHERE run_id = ? ORDER BY id", (run_id,)
        )
    ]


def directory_object(store: Store, run_id: int | None, sam: str) -> dict[str, Any] | None:
    if run_id is None:
        return None
    row = store.db.execute(
        "SELECT * FROM directory_objects WHERE run_id = ? AND sam = ? COLLATE NOCASE",
        (run_id, sam),
    ).fetchone()
    if row is None:
        return None
    return {
        "sid": row["sid"],
        "sam": row["sam"],
        "dn": row["dn"],
        "kind": row["kind"],
        "enabled": row["enabled"],
        "attributes": _loads(row["attributes"], {}),
    }


def rotations_upto(store: Store, upto: int | None = None) -> list[dict[str, Any]]:
    """Every rotation attempt from runs up to ``upto``, oldest first, with the run's operator."""
    query = (
        "SELECT r.*, runs.operator FROM rotations r JOIN runs ON runs.id = r.run_id"
        + (" WHERE r.run_id <= ?" if upto is not None else "")
        + " ORDER BY r.started, r.id"
    )
    return [
        {
            "id": row["id"],
            "run_id": row["run_id"],
            "host": row["host"],
            "platform": row["platform"],
            "username": row["username"],
            "status": row["status"],
            "verified": bool(row["verified"]),
            "saved": bool(row["saved"]),
            "old_password_refused": None
            if row["old_password_refused"] is None
            else bool(row["old_password_refused"]),
            "error": row["error"],
            "started": row["started"],
            "finished": row["finished"],
            "operator": row["operator"],
        }
        for row in store.db.execute(query, (upto,) if upto is not None else ())
    ]


def checklist(store: Store) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in store.db.execute("SELECT * FROM checklist_items ORDER BY kind, target, account")
    ]


def diff_hosts(store: Store, old_run: int | None, new_run: int | None) -> list[dict[str, Any]]:
    """The report's host changes between two discover runs (inventory.hosts.changes, paired
    by the store's device identity): added, gone, MAC, address and port changes."""
    if old_run is None or new_run is None:
        return []
    old = {o.host_id: o.host for o in hosts_as_of(store, old_run)}
    new = {o.host_id: o.host for o in hosts_as_of(store, new_run)}
    # A sweep-only run (discover --no-nmap records "ports": null) saw no ports at all.
    compare_ports = all(
        run_document(store, run, "discover").get("ports", "") is not None
        for run in (old_run, new_run)
    )
    rows: list[dict[str, Any]] = []
    for change in hosts.changes(old, new, compare_ports=compare_ports):
        row = _host_change_row(change)
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda c: (ip_sort_key(c["subject"]), c["change"]))


def _host_change_row(change: hosts.HostChange) -> dict[str, Any] | None:
    """One change as a report row; names, class and platform changes are not reported."""
    kind, ip = change.kind, change.ip
    if kind is Change.HOST_ADDED:
        return _change(kind, "medium", ip, detail=_describe(change.after))
    if kind is Change.HOST_GONE:
        return _change(kind, "medium", ip, detail=_describe(change.before))
    if kind is Change.MAC_CHANGED:
        before, after = change.before, change.after
        detail = (
            f"{ip} now answers with MAC {after.mac} ({after.vendor or 'unknown vendor'})"
            f", was {before.mac} ({before.vendor or 'unknown vendor'})"
        )
        return _change(kind, "critical", ip, old=change.old, new=change.new, detail=detail)
    if kind is Change.IP_CHANGED:
        return _change(kind, "info", ip, old=change.old, new=change.new)
    if kind is Change.PORT_OPENED:
        return _change(kind, "medium", ip, new=_port_label(change.new))
    if kind is Change.PORT_CLOSED:
        return _change(kind, "low", ip, old=_port_label(change.old))
    return None


def diff_memberships(
    store: Store, old_run: int | None, new_run: int | None
) -> list[dict[str, Any]]:
    """Privileged members added or removed between two AD runs."""
    if old_run is None or new_run is None:
        return []
    old = {(m["group_sid"], m["sid"]): m for m in memberships_as_of(store, old_run)}
    new = {(m["group_sid"], m["sid"]): m for m in memberships_as_of(store, new_run)}
    changes = []
    for key in sorted(new.keys() - old.keys()):
        member = new[key]
        changes.append(
            _change(
                "privileged_member_added",
                "critical" if member["group"] in CRITICAL_GROUPS else "high",
                member["sam"] or member["sid"],
                group=member["group"],
                new=" > ".join(member["path"]) or member["group"],
                detail=f"new member of {member['group']}",
            )
        )
    for key in sorted(old.keys() - new.keys()):
        member = old[key]
        changes.append(
            _change(
                "privileged_member_removed",
                "info",
                member["sam"] or member["sid"],
                group=member["group"],
                old=member["group"],
                detail=f"no longer a member of {member['group']}",
            )
        )
    return changes


def diff_findings(store: Store, old_run: int | None, new_run: int | None) -> list[dict[str, Any]]:
    """Findings that appeared or were resolved between two AD runs."""
    if old_run is None or new_run is None:
        return []
    old = {(f["rule"], f["subject"]): f for f in findings_of(store, old_run)}
    new = {(f["rule"], f["subject"]): f for f in findings_of(store, new_run)}
    changes = [
        _change("finding_new", new[k]["severity"], k[1], new=k[0], detail=new[k]["detail"])
        for k in sorted(new.keys() - old.keys())
    ]
    changes += [
        _change("finding_resolved", "info", k[1], old=k[0], detail=old[k]["detail"])
        for k in sorted(old.keys() - new.keys())
    ]
    return changes


def ip_sort_key(ip: str | None) -> tuple[int, ...]:
    """Numeric order for dotted IPv4 (so .10 follows .9); anything else sorts last."""
    try:
        parts = tuple(int(p) for p in (ip or "").split("."))
    except ValueError:
        return (999,)
    return parts if len(parts) == 4 else (999,)


def _change(
    kind: str,
    severity: str,
    subject: str,
    *,
    group: str | None = None,
    old: Any = None,
    new: Any = None,
    detail: str | None = None,
) -> dict[str, Any]:
    return {
        "change": str(kind),
        "severity": severity,
        "subject": subject,
        "group": group,
        "old": old,
        "new": new,
        "detail": detail,
    }


def _describe(host: Host) -> str:
    names = ", ".join(host.hostnames) or "no name"
    return f"{names}; {host.device_class}; MAC {host.mac or 'unknown'}"


def _port_label(port: Port) -> str:
    return f"{port.port}/{port.proto}" + (f" ({port.service})" if port.service else "")


def _loads(text: str | None, default: Any) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


__all__ = [
    "KINDS",
    "RunSet",
    "checklist",
    "diff_findings",
    "diff_hosts",
    "diff_memberships",
    "directory_object",
    "findings_of",
    "hosts_as_of",
    "ip_sort_key",
    "last_run_id",
    "memberships_as_of",
    "onboard_counts",
    "previous_runs",
    "rotations_upto",
    "run_document",
    "run_ids_after",
    "run_of_kind",
    "state_runs",
]


def last_run_id(store: Store) -> int:
    """The newest run's id (0 in an empty store)."""
    return int(store.db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])


def run_ids_after(store: Store, after: int) -> list[int]:
    """Ids of the runs recorded after run ``after``, oldest first."""
    rows = store.db.execute("SELECT id FROM runs WHERE id > ? ORDER BY id", (after,))
    return [row[0] for row in rows]


def onboard_counts(
    store: Store,
    *,
    discover_run: int,
    ad_run: int,
    rotate_runs: list[int],
    finding_runs: list[int],
) -> dict[str, Any]:
    """The figures of onboard's summary: hosts by class of the discover run, privileged
    accounts and dial-in rights of the AD run, rotations and findings by status/severity."""
    db = store.db

    def grouped(query: str, args: list[int]) -> dict[str, int]:
        return {row["k"]: row["n"] for row in db.execute(query, args)}

    def marks(ids: list[int]) -> str:
        return ",".join("?" * len(ids))

    hosts = grouped(
        "SELECT device_class AS k, COUNT(*) AS n FROM host_observations WHERE run_id = ?"
        " GROUP BY device_class",
        [discover_run],
    )
    privileged = db.execute(
        "SELECT COUNT(DISTINCT member_sid) FROM group_memberships"
        " WHERE run_id = ? AND member_kind NOT IN ('group', 'foreign')",
        (ad_run,),
    ).fetchone()[0]
    dialin = db.execute(
        "SELECT COUNT(*) FROM directory_objects WHERE run_id = ?"
        " AND json_extract(attributes, '$.dialin') = 1",
        (ad_run,),
    ).fetchone()[0]
    rotations = grouped(
        f"SELECT status AS k, COUNT(*) AS n FROM rotations WHERE run_id IN ({marks(rotate_runs)})"
        " GROUP BY status",
        rotate_runs,
    )
    findings = grouped(
        "SELECT severity AS k, COUNT(*) AS n FROM findings"
        f" WHERE run_id IN ({marks(finding_runs)}) GROUP BY severity",
        finding_runs,
    )
    return {
        "hosts": sum(hosts.values()),
        "hosts_by_class": hosts,
        "privileged_accounts": privileged,
        "dialin_allowed": dialin,
        "rotations": rotations,
        "findings": findings,
    }


def remediation_journals(store: Store, upto: int | None = None) -> list[tuple[Run, list[Any]]]:
    """Every ``ad-apply`` and ``ad-undo`` run (id <= ``upto``) with its journal, oldest
    first. Any status: a run that crashed midway still journalled what it did."""
    query = (
        "SELECT r.*, d.data AS journal FROM runs r JOIN run_documents d ON d.run_id = r.id "
        "WHERE d.kind = 'ad_journal' AND r.command IN ('ad-apply', 'ad-undo')"
    )
    args: list[Any] = []
    if upto is not None:
        query += " AND r.id <= ?"
        args.append(upto)
    rows = store.db.execute(query + " ORDER BY r.id", args).fetchall()
    return [(_run(row), _loads(row["journal"], [])) for row in rows]
