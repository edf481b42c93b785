"""Rotation records: one ``rotations`` row per device and run, its ``rotation_steps``, and
the run's full JSON result in ``run_documents``. No column holds a secret: steps carry
outcomes, lengths, fingerprints and scrubbed error texts only."""

from __future__ import annotations

import json
from typing import Any

from agent.core.secret import json_default, scrub
from inventory.store import Store, utcnow


class RotationRecorder:
    """Writes the steps of one run as they happen (called on one thread only)."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._ids: dict[tuple[str, str], int] = {}
        self._seq: dict[int, int] = {}

    def rotation_id(self, host: str, platform: str | None, username: str) -> int:
        key = (host, username)
        if key not in self._ids:
            with self.store.transaction() as db:
                cursor = db.execute(
                    "INSERT INTO rotations (run_id, host, platform, username, status, started)"
                    " VALUES (?, ?, ?, ?, 'running', ?)",
                    (self.run_id, host, platform, username, utcnow()),
                )
            self._ids[key] = int(cursor.lastrowid)
            self._seq[self._ids[key]] = 0
        return self._ids[key]

    def step(
        self,
        host: str,
        platform: str | None,
        username: str,
        step: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        rotation_id = self.rotation_id(host, platform, username)
        self._seq[rotation_id] += 1
        text = scrub(json.dumps(detail or {}, sort_keys=True, default=json_default))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO rotation_steps (rotation_id, seq, step, outcome, at, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (rotation_id, self._seq[rotation_id], step, outcome, utcnow(), text),
            )

    def finish(self, result: dict[str, Any]) -> None:
        """Close the device's row with its final status (keys as in RotationResult)."""
        rotation_id = self.rotation_id(result["host"], result["platform"], result["username"])
        refused = result.get("old_password_refused")
        with self.store.transaction() as db:
            db.execute(
                "UPDATE rotations SET status = ?, verified = ?, saved = ?,"
                " old_password_refused = ?, error = ?, finished = ? WHERE id = ?",
                (
                    result["status"],
                    int(bool(result.get("verified"))),
                    int(bool(result.get("saved"))),
                    None if refused is None else int(refused),
                    scrub(result["error"]) if result.get("error") else None,
                    utcnow(),
                    rotation_id,
                ),
            )


def write_document(store: Store, run_id: int, kind: str, data: dict[str, Any]) -> None:
    """The run's whole JSON result, for reports (``kind`` is 'rotate' or 'verify')."""
    text = scrub(json.dumps(data, sort_keys=True, default=json_default))
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, kind, text),
        )


def latest_platform_hosts(store: Store, classes: list[str] | None = None) -> list[dict[str, Any]]:
    """Hosts with a platform from the latest finished discover run (for --from-inventory)."""
    run = store.latest_run("discover")
    if run is None:
        return []
    query = (
        "SELECT ip, platform, device_class FROM host_observations"
        " WHERE run_id = ? AND platform IS NOT NULL AND platform != ''"
    )
    args: list[Any] = [run.id]
    if classes:
        query += f" AND device_class IN ({', '.join('?' for _ in classes)})"
        args.extend(classes)
    found = [dict(row) for row in store.db.execute(query + " ORDER BY ip", args)]
    # The run's open ports per host: --from-inventory tells SSH, telnet-only and
    # SNMP-only devices apart by them (a sweep-only run saw none: no ports, assume SSH).
    ports: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.execute(
        "SELECT h.ip, s.port, s.proto, s.state, s.service FROM services s"
        " JOIN host_observations h ON h.run_id = s.run_id AND h.host_id = s.host_id"
        " WHERE s.run_id = ?",
        (run.id,),
    ):
        port = dict(row)
        ports.setdefault(port.pop("ip"), []).append(port)
    for host in found:
        host["ports"] = ports.get(host["ip"], [])
    return found


def smb_hosts(store: Store, classes: list[str]) -> list[dict[str, Any]]:
    """Hosts of ``classes`` with SMB (tcp/445) open in the latest finished discover run:
    where kind windows_local can reach a local account (--from-inventory)."""
    run = store.latest_run("discover")
    if run is None or not classes:
        return []
    marks = ", ".join("?" for _ in classes)
    rows = store.db.execute(
        "SELECT o.ip, o.device_class, o.hostnames FROM host_observations o"
        " JOIN services s ON s.run_id = o.run_id AND s.host_id = o.host_id"
        " AND s.port = 445 AND s.proto = 'tcp' AND s.state = 'open'"
        f" WHERE o.run_id = ? AND o.device_class IN ({marks}) ORDER BY o.ip",
        [run.id, *classes],
    )
    return [{**dict(row), "platform": "windows_local"} for row in rows]


def host_names(store: Store, ips: list[str]) -> dict[str, set[str]]:
    """Lower-case names (and their first labels) the latest discover run knows per address."""
    run = store.latest_run("discover")
    if run is None or not ips:
        return {}
    found: dict[str, set[str]] = {}
    for row in store.db.execute(
        f"SELECT ip, hostnames FROM host_observations WHERE run_id = ? AND ip IN"
        f" ({', '.join('?' for _ in ips)})",
        [run.id, *ips],
    ):
        for name in json.loads(row["hostnames"] or "[]"):
            text = str(name).lower()
            found.setdefault(row["ip"], set()).update({text, text.split(".")[0]})
    return found
