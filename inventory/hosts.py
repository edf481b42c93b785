"""Discovered hosts in the inventory: one discover run's document, its observations and
services, and the difference between two discover runs.

A host row is keyed by MAC where known and by IP otherwise; observations and services hang
off (run_id, host_id). The full JSON document of each run is kept in run_documents
(kind 'discover') so reports and the next run's diff read one shape. Nothing stored here is
a secret: SNMP results say what the device answered, never which community worked.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from agent.core.scope import ScopeGuard
from inventory.store import Store, finished

KIND = "discover"


def save(store: Store, run_id: int, document: dict[str, Any]) -> None:
    """Write a discover run's hosts, observations, services and document in one transaction."""
    with store.transaction() as db:
        for host in document.get("hosts", []):
            host_id = _host_id(db, run_id, host)
            os_info = host.get("os") or {}
            db.execute(
                "INSERT OR REPLACE INTO host_observations (run_id, host_id, ip, mac, vendor,"
                " mac_randomized, hostnames, sources, os_name, os_accuracy, snmp, device_class,"
                " platform, platform_confidence, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, host_id, host["ip"], host.get("mac"), host.get("vendor"),
                    int(bool(host.get("mac_randomized"))), json.dumps(host.get("hostnames", [])),
                    json.dumps(host.get("sources", [])), os_info.get("name"),
                    os_info.get("accuracy"),
                    json.dumps(host["snmp"]) if host.get("snmp") else None,
                    host.get("device_class") or "unknown", host.get("platform"),
                    host.get("platform_confidence"),
                    json.dumps({"http_title": host.get("http_title"), "rule": host.get("rule")}),
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT OR REPLACE INTO services (run_id, host_id, port, proto, state, service,"
                " product, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, host_id, p["port"], p["proto"], p["state"], p.get("service"),
                     p.get("product"), p.get("version"))
                    for p in host.get("ports", [])
                ],
            )  # fmt: skip
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, KIND, json.dumps(document, sort_keys=True)),
        )


def _host_id(db, run_id: int, host: dict[str, Any]) -> int:
    mac = host.get("mac")
    if mac:
        row = db.execute("SELECT id FROM hosts WHERE mac = ?", (mac,)).fetchone()
    else:
        row = db.execute(
            "SELECT id FROM hosts WHERE mac IS NULL AND ip = ? ORDER BY id DESC", (host["ip"],)
        ).fetchone()
    if row:
        db.execute(
            "UPDATE hosts SET ip = ?, last_run = ? WHERE id = ?", (host["ip"], run_id, row[0])
        )
        return int(row[0])
    cursor = db.execute(
        "INSERT INTO hosts (mac, ip, first_run, last_run) VALUES (?, ?, ?, ?)",
        (mac, host["ip"], run_id, run_id),
    )
    return int(cursor.lastrowid)


def document(store: Store, run_id: int) -> dict[str, Any] | None:
    row = store.db.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, KIND)
    ).fetchone()
    return json.loads(row[0]) if row else None


def previous_document(store: Store, before: int | None = None) -> dict[str, Any] | None:
    """The newest finished discover run's document older than ``before``."""
    row = store.db.execute(
        "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
        f" WHERE d.kind = ? AND {finished('r.status')}"
        + (" AND r.id < ?" if before is not None else "")
        + " ORDER BY r.id DESC LIMIT 1",
        (KIND, before) if before is not None else (KIND,),
    ).fetchone()
    return json.loads(row[0]) if row else None


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two discover documents, by IP.

    ``mac_changed`` lists every IP that now answers from another MAC: a replaced device, or
    someone answering in its place (ARP spoofing); reports show it first.
    """
    result: dict[str, Any] = {
        "previous_run_id": old.get("run_id") if old else None,
        "new": [], "gone": [], "changed": [], "mac_changed": [],
    }  # fmt: skip
    if old is None:
        return result
    # Only addresses both runs were allowed to look at can be new or gone.
    both = [_scope(old), _scope(new)]
    before = {h["ip"]: h for h in old.get("hosts", []) if all(g(h["ip"]) for g in both)}
    after = {h["ip"]: h for h in new.get("hosts", []) if all(g(h["ip"]) for g in both)}
    result["new"] = [_brief(after[ip]) for ip in sorted(after.keys() - before.keys(), key=_ipkey)]
    result["gone"] = [_brief(before[ip]) for ip in sorted(before.keys() - after.keys(), key=_ipkey)]
    # A sweep-only run (--no-nmap) saw no ports: that is no evidence that ports closed.
    compare_ports = old.get("ports") is not None and new.get("ports") is not None
    for ip in sorted(before.keys() & after.keys(), key=_ipkey):
        change = _host_change(before[ip], after[ip], compare_ports)
        if change:
            result["changed"].append({"ip": ip, **change})
        if "mac" in change:
            result["mac_changed"].append({"ip": ip, **change["mac"]})
    return result


def _scope(document: dict[str, Any]) -> Callable[[str], bool]:
    """Which addresses a run covered (an imported scan without a scope: all it lists)."""
    if not document.get("scope"):
        return lambda _ip: True
    return ScopeGuard(document["scope"], document.get("exclude", []), allow_public=True).allows


def _host_change(old: dict[str, Any], new: dict[str, Any], compare_ports: bool) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old.get("mac") and new.get("mac") and old["mac"] != new["mac"]:
        change["mac"] = {"old": old["mac"], "new": new["mac"]}
    old_ports, new_ports = _ports(old), _ports(new)
    if compare_ports and old_ports != new_ports:
        change["ports"] = {
            "added": sorted(new_ports - old_ports), "removed": sorted(old_ports - new_ports),
        }  # fmt: skip
    old_names, new_names = set(old.get("hostnames", [])), set(new.get("hostnames", []))
    if old_names != new_names:
        change["names"] = {
            "added": sorted(new_names - old_names), "removed": sorted(old_names - new_names),
        }  # fmt: skip
    for key in ("device_class", "platform"):
        if old.get(key) != new.get(key):
            change["class" if key == "device_class" else key] = {
                "old": old.get(key), "new": new.get(key),
            }  # fmt: skip
    return change


def _ports(host: dict[str, Any]) -> set[str]:
    return {f"{p['port']}/{p['proto']}" for p in host.get("ports", []) if p.get("state") == "open"}


def _brief(host: dict[str, Any]) -> dict[str, Any]:
    return {k: host.get(k) for k in ("ip", "mac", "vendor", "device_class", "platform")}


def _ipkey(ip: str) -> tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    address = ipaddress.ip_address(ip)
    return address.version, address
