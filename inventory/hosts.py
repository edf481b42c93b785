"""Discovered hosts in the inventory: one discover run's document, its observations and
services, and the difference between two discover runs.

A host row is keyed by MAC where known and by IP otherwise; observations and services hang
off (run_id, host_id). The full JSON document of each run is kept in run_documents
(kind 'discover') so reports and the next run's diff read one shape. Nothing stored here is
a secret: SNMP results say what the device answered, never which community worked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.core.jsontext import compact, parse
from agent.core.scope import ScopeGuard, address_key
from inventory.model import Host, Port
from inventory.store import Store, finished, in_chunks

KIND = "discover"


def save(
    store: Store, run_id: int, document: dict[str, Any], hosts: list[Host] | None = None
) -> None:
    """Write a discover run's hosts, observations, services and document in one transaction;
    the rows are written from ``hosts`` (the document's hosts as :class:`Host`, read back
    from it when not given). Whatever :func:`save_progress` wrote for the run is replaced.

    Batched: one read of the host identities and one statement per table, whatever the
    number of hosts (per-host look-ups were most of a /16's store time).
    """
    if hosts is None:
        hosts = [Host.from_json(h) for h in document.get("hosts", [])]
    with store.transaction() as db:
        for table in ("services", "host_observations"):
            db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        _write_hosts(db, run_id, hosts, _host_ids(db, run_id, hosts))
        db.executemany(
            "INSERT INTO findings (run_id, source, rule, severity, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run_id, KIND, f["id"], f["severity"], f["host"], f.get("detail"))
                for f in document.get("findings") or []
            ],
        )
        _write_document(db, run_id, document)


def save_progress(store: Store, run_id: int, hosts: list[Host], checkpoint: dict[str, Any]) -> None:
    """Write the hosts a running discovery has found or finished so far, and ``checkpoint``
    (its scope, ports and the addresses done) as the run's document, so a process killed
    outright (SIGKILL, OOM, power) leaves them behind: its run becomes ``incomplete``, no
    reader takes it (they read finished runs), and the next discovery of the same scope
    resumes from it (:func:`latest_attempt`). :func:`save` replaces all of it at the end."""
    with store.transaction() as db:
        ids = _host_ids(db, run_id, hosts)
        # A host an earlier checkpoint stored: the ports it has now replace those.
        db.executemany(
            "DELETE FROM services WHERE run_id = ? AND host_id = ?", [(run_id, i) for i in ids]
        )
        _write_hosts(db, run_id, hosts, ids)
        _write_document(db, run_id, {**checkpoint, "checkpoint": True})


def _write_hosts(db, run_id: int, hosts: list[Host], ids: list[int]) -> None:
    observations, services = [], []
    for host, host_id in zip(hosts, ids, strict=True):
        os_info = host.os or {}
        observations.append((
            run_id, host_id, host.ip, host.mac, host.vendor, int(bool(host.mac_randomized)),
            compact(host.hostnames), compact(host.sources), os_info.get("name"),
            os_info.get("accuracy"), compact(host.snmp) if host.snmp else None,
            host.device_class or "unknown", host.platform, host.platform_confidence,
            compact({"http_title": host.http_title, "rule": host.rule}),
        ))  # fmt: skip
        services += [
            (run_id, host_id, p.port, p.proto, p.state, p.service, p.product, p.version)
            for p in host.ports
        ]
    db.executemany(
        "INSERT OR REPLACE INTO host_observations (run_id, host_id, ip, mac, vendor,"
        " mac_randomized, hostnames, sources, os_name, os_accuracy, snmp, device_class,"
        " platform, platform_confidence, extra)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        observations,
    )
    db.executemany(
        "INSERT OR REPLACE INTO services (run_id, host_id, port, proto, state, service,"
        " product, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        services,
    )


def _write_document(db, run_id: int, document: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
        (run_id, KIND, compact(document, sort_keys=True)),
    )


def _host_ids(db, run_id: int, hosts: list[Host]) -> list[int]:
    """The hosts row of each host, in order: by MAC where known, else the newest MAC-less
    row with its address; rows are made for the ones not seen before, and every row gets
    the address it has now and this run as its last."""
    by_mac: dict[str, int] = {}
    by_ip: dict[str, int] = {}  # MAC-less rows: the newest per address
    address: dict[int, str] = {}
    # Only this batch's rows (a checkpoint stores 32 hosts of a 4,000-host inventory).
    macs = sorted({h.mac for h in hosts if h.mac})
    ips = sorted({h.ip for h in hosts if not h.mac})
    for column, keys in (("mac", macs), ("ip", ips)):
        extra = "" if column == "mac" else " AND mac IS NULL"
        for chunk, marks in in_chunks(keys):
            for row in db.execute(
                f"SELECT id, mac, ip FROM hosts WHERE {column} IN ({marks}){extra} ORDER BY id",
                chunk,
            ):
                address[int(row[0])] = row[2]
                if row[1] is not None:
                    by_mac[row[1]] = int(row[0])
                else:
                    by_ip[row[2]] = int(row[0])
    fresh: dict[tuple[str, str], str] = {}  # (kind, key) -> the address it is first seen at
    for host in hosts:
        key = ("mac", host.mac) if host.mac else ("ip", host.ip)
        known = by_mac if host.mac else by_ip
        if key[1] not in known:
            fresh.setdefault(key, host.ip)
    made: set[int] = set()  # rows this run created: their last_run is this run already
    if fresh:
        db.executemany(
            "INSERT INTO hosts (mac, ip, first_run, last_run) VALUES (?, ?, ?, ?)",
            [
                (key if kind == "mac" else None, ip, run_id, run_id)
                for (kind, key), ip in fresh.items()
            ],
        )
        for row in db.execute("SELECT id, mac, ip FROM hosts WHERE first_run = ?", (run_id,)):
            made.add(int(row[0]))
            address[int(row[0])] = row[2]
            if row[1] is not None:
                by_mac[row[1]] = int(row[0])
            else:
                by_ip[row[2]] = max(int(row[0]), by_ip.get(row[2], 0))
    ids = [by_mac[h.mac] if h.mac else by_ip[h.ip] for h in hosts]
    # Where one row stands for several hosts of this run, the last one's address is kept.
    now = {host_id: host.ip for host_id, host in zip(ids, hosts, strict=True)}
    seen = [host_id for host_id in now if host_id not in made]
    for chunk, marks in in_chunks(seen):
        db.execute(f"UPDATE hosts SET last_run = ? WHERE id IN ({marks})", (run_id, *chunk))
    db.executemany(
        "UPDATE hosts SET ip = ? WHERE id = ?",
        [(ip, host_id) for host_id, ip in now.items() if address.get(host_id) != ip],
    )
    return ids


def document(store: Store, run_id: int) -> dict[str, Any] | None:
    row = store.db.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, KIND)
    ).fetchone()
    return parse(row[0]) if row else None


def previous_document(store: Store, before: int | None = None) -> dict[str, Any] | None:
    """The newest finished discover run's document older than ``before``, leaving out
    interrupted runs (their unscanned hosts would read as ports closed)."""
    rows = store.db.execute(
        "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
        f" WHERE d.kind = ? AND {finished('r.status')}"
        + (" AND r.id < ?" if before is not None else "")
        + " ORDER BY r.id DESC",
        (KIND, before) if before is not None else (KIND,),
    )
    for row in rows:
        found = parse(row[0])
        if not found.get("interrupted"):
            return found
    return None


def latest_document(store: Store) -> dict[str, Any] | None:
    """The newest finished discover run's document, interrupted or not."""
    row = store.db.execute(
        "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
        f" WHERE d.kind = ? AND {finished('r.status')} ORDER BY r.id DESC LIMIT 1",
        (KIND,),
    ).fetchone()
    return parse(row[0]) if row else None


def latest_attempt(store: Store) -> dict[str, Any] | None:
    """The newest discover run's document, finished or not (a run still ``running`` aside):
    for a run that died or failed, what its last checkpoint wrote (``checkpoint`` true)."""
    row = store.db.execute(
        "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
        " WHERE d.kind = ? AND r.status != 'running' ORDER BY r.id DESC LIMIT 1",
        (KIND,),
    ).fetchone()
    return parse(row[0]) if row else None


class Change(enum.StrEnum):
    """The one vocabulary of "what changed" between two observations of the network."""

    HOST_ADDED = "host_added"
    HOST_GONE = "host_gone"
    MAC_CHANGED = "mac_changed"  # a replaced device, or someone answering in its place
    IP_CHANGED = "ip_changed"
    PORT_OPENED = "port_opened"
    PORT_CLOSED = "port_closed"
    NAMES_CHANGED = "names_changed"
    CLASS_CHANGED = "class_changed"
    PLATFORM_CHANGED = "platform_changed"


@dataclass(frozen=True)
class HostChange:
    """One change: ``old``/``new`` are a MAC, an address, a Port, a class or a platform (for
    names: the names removed and added); ``before``/``after`` the hosts compared."""

    kind: Change
    ip: str  # the host's address now (for a host gone: the address it had)
    old: Any = None
    new: Any = None
    before: Host | None = None
    after: Host | None = None


def changes(
    old: Mapping[Hashable, Host], new: Mapping[Hashable, Host], *, compare_ports: bool
) -> list[HostChange]:
    """Every change between two observations, each given as {identity: Host}.

    Hosts pair up by identity first, then the ones left over by address, so a MAC change on
    an address is one loud ``mac_changed``, not a quiet ``host_added`` plus ``host_gone``.
    ``compare_ports``: False when either side saw no ports (a sweep-only run), which is no
    evidence that a port opened or closed.
    """
    pairs = [(old[key], new[key]) for key in old.keys() & new.keys()]
    old_left = {h.ip: h for key, h in old.items() if key not in new}
    new_left = {h.ip: h for key, h in new.items() if key not in old}
    for ip in old_left.keys() & new_left.keys():
        pairs.append((old_left.pop(ip), new_left.pop(ip)))
    found = [HostChange(Change.HOST_ADDED, h.ip, after=h) for h in new_left.values()]
    found += [HostChange(Change.HOST_GONE, h.ip, before=h) for h in old_left.values()]
    for before, after in pairs:
        found += _compare(before, after, compare_ports)
    return found


def _compare(before: Host, after: Host, compare_ports: bool) -> list[HostChange]:
    found: list[HostChange] = []

    def add(kind: Change, old: Any, new: Any) -> None:
        found.append(HostChange(kind, after.ip, old, new, before, after))

    if before.mac and after.mac and before.mac.lower() != after.mac.lower():
        add(Change.MAC_CHANGED, before.mac, after.mac)
    if before.ip != after.ip:
        add(Change.IP_CHANGED, before.ip, after.ip)
    if compare_ports:
        was, now = _open(before), _open(after)
        for key in sorted(now.keys() - was.keys()):
            add(Change.PORT_OPENED, None, now[key])
        for key in sorted(was.keys() - now.keys()):
            add(Change.PORT_CLOSED, was[key], None)
    old_names, new_names = set(before.hostnames), set(after.hostnames)
    if old_names != new_names:
        add(Change.NAMES_CHANGED, sorted(old_names - new_names), sorted(new_names - old_names))
    if before.device_class != after.device_class:
        add(Change.CLASS_CHANGED, before.device_class, after.device_class)
    if before.platform != after.platform:
        add(Change.PLATFORM_CHANGED, before.platform, after.platform)
    return found


def _open(host: Host) -> dict[tuple[int, str], Port]:
    """Open ports by (port, proto): a re-identified service is no port closing and another
    opening."""
    return {(p.port, p.proto): p for p in host.ports if p.state == "open"}


def diff(
    old: dict[str, Any] | None, new: dict[str, Any], new_hosts: list[Host] | None = None
) -> dict[str, Any]:
    """What changed between two discover documents, by address: discover's ``diff``.

    Only addresses both runs covered count. ``mac_changed`` lists every address that now
    answers from another MAC: a replaced device, or someone answering in its place (ARP
    spoofing); reports show it first. ``new_hosts``: the new document's hosts as
    :class:`Host` when the caller has them (saves reading them back).
    """
    result: dict[str, Any] = {
        "previous_run_id": old.get("run_id") if old else None,
        "new": [], "gone": [], "changed": [], "mac_changed": [],
    }  # fmt: skip
    if old is None:
        return result
    # Hosts of a run are inside its own scope: only the other run's scope can leave one out,
    # and with the same scope on both sides (the usual re-scan) none is.
    same = (old.get("scope"), old.get("exclude")) == (new.get("scope"), new.get("exclude"))
    both = [] if same else [_scope(old), _scope(new)]

    # A host recorded alike in both documents has nothing to report (most hosts of a
    # re-scan): only the others are read back into Hosts and compared (4,000 hosts, 5%
    # changed: ~0.1 s less).
    recorded = {h["ip"]: h for h in new.get("hosts", [])}
    alike = {h["ip"] for h in old.get("hosts", []) if recorded.get(h["ip"]) == h}

    def hosts(document: dict[str, Any], given: list[Host] | None = None) -> dict[str, Host]:
        if given is None:
            given = [Host.from_json(h) for h in document.get("hosts", []) if h["ip"] not in alike]
        return {
            h.ip: h for h in given if h.ip not in alike and all(covers(h.ip) for covers in both)
        }

    compare_ports = old.get("ports") is not None and new.get("ports") is not None
    by_ip: dict[str, dict[str, Any]] = {}
    for change in changes(hosts(old), hosts(new, new_hosts), compare_ports=compare_ports):
        if change.kind is Change.HOST_ADDED:
            result["new"].append(_brief(change.after))
        elif change.kind is Change.HOST_GONE:
            result["gone"].append(_brief(change.before))
        elif change.kind is not Change.IP_CHANGED:  # paired by address: never happens
            _describe_change(by_ip.setdefault(change.ip, {}), change)
    result["new"].sort(key=lambda h: address_key(h["ip"]))
    result["gone"].sort(key=lambda h: address_key(h["ip"]))
    for ip in sorted(by_ip, key=address_key):
        result["changed"].append({"ip": ip, **by_ip[ip]})
        if "mac" in by_ip[ip]:
            result["mac_changed"].append({"ip": ip, **by_ip[ip]["mac"]})
    return result


def _describe_change(entry: dict[str, Any], change: HostChange) -> None:
    """One change into discover's per-address entry (mac, ports, names, class, platform)."""
    if change.kind is Change.MAC_CHANGED:
        entry["mac"] = {"old": change.old, "new": change.new}
    elif change.kind in (Change.PORT_OPENED, Change.PORT_CLOSED):
        ports = entry.setdefault("ports", {"added": [], "removed": []})
        port = change.new or change.old
        side = "added" if change.kind is Change.PORT_OPENED else "removed"
        ports[side] = sorted([*ports[side], f"{port.port}/{port.proto}"])
    elif change.kind is Change.NAMES_CHANGED:
        entry["names"] = {"added": change.new, "removed": change.old}
    elif change.kind is Change.CLASS_CHANGED:
        entry["class"] = {"old": change.old, "new": change.new}
    elif change.kind is Change.PLATFORM_CHANGED:
        entry["platform"] = {"old": change.old, "new": change.new}


def _scope(document: dict[str, Any]) -> Callable[[str], bool]:
    """Which addresses a run covered (an imported scan without a scope: all it lists)."""
    if not document.get("scope"):
        return lambda _ip: True
    return ScopeGuard(document["scope"], document.get("exclude", []), allow_public=True).allows


def _brief(host: Host) -> dict[str, Any]:
    return {
        "ip": host.ip,
        "mac": host.mac,
        "vendor": host.vendor,
        "device_class": host.device_class,
        "platform": host.platform,
    }
