"""Use case: collect neighbour, MAC-table and ARP facts read-only from every device keyturn
holds credentials for, build the topology, diff it against the previous run, draw it,
store it and audit it.

`keyturn topology` and onboard's topology stage both call :func:`map_topology`. Sessions
are the rotation drivers' (same login, privileged mode and pinned host keys); the commands
sent are the fixed show commands of ``agent.topology.parsers.COMMANDS``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError
from agent.ops.devices import Device, stored_devices

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.topology.model import DeviceFacts

log = logging.getLogger(__name__)
EXPORT_FORMATS = ("svg", "drawio", "dot", "graphml")
SOURCES = ("auto", "ssh", "snmp")
_PROMPT_NAME = re.compile(r"^(?:\[?[\w.-]+@)?([A-Za-z0-9][\w.-]{0,62})")


def devices_to_map(app: AppContext) -> list[Device]:
    """Every stored device on a platform the collectors know, alive in the latest discovery
    (agent/ops/devices.py)."""
    from agent.topology.collect import supported

    return stored_devices(app, lambda platform, _class: bool(platform) and supported(platform))


def snmp_targets(app: AppContext, ssh_devices: Sequence[Device], source: str) -> list[Device]:
    """Hosts to read over SNMP: with ``snmp`` every switch/router/firewall of the latest
    discover run that answered SNMP (else the devices with stored credentials); with
    ``auto`` only those no SSH credential covers."""
    from inventory import hosts as host_docs

    if source == "ssh" or not app.config.discover.snmp_communities:
        return []
    run = app.store.latest_run("discover")
    discovered = (host_docs.document(app.store, run.id) or {}).get("hosts", []) if run else []
    infra = [
        Device(h["ip"], "snmp", "", (h.get("hostnames") or [""])[0], h.get("device_class") or "")
        for h in discovered
        if h.get("snmp") and h.get("device_class") in ("switch", "router", "firewall")
    ]
    covered = {d.ip for d in ssh_devices}
    if source == "auto":
        return [d for d in infra if d.ip not in covered]
    return infra or [Device(d.ip, "snmp", "", d.name, d.device_class) for d in ssh_devices]


def map_topology(
    app: AppContext,
    *,
    devices: Sequence[Device] | None = None,
    parallel: int | None = None,
    source: str = "auto",
) -> dict[str, Any]:
    """Collect (``source``: ``ssh``, ``snmp`` or ``auto`` = SSH where a credential is
    stored, SNMP for the other switches and routers), build, diff, draw and store one
    topology run; returns its document."""
    from agent.topology.build import build
    from agent.topology.diff import changed, diff
    from agent.topology.draw import svg
    from agent.topology.graph import elements
    from inventory import hosts as host_docs
    from inventory import topology as store_topology
    from inventory.store import RunStatus

    if source not in SOURCES:
        raise UsageError(f"--source must be one of {', '.join(SOURCES)}, not {source!r}")
    devices = list(devices) if devices is not None else devices_to_map(app)
    by_snmp = snmp_targets(app, devices, source)
    if source == "snmp":
        devices = []
    if source == "snmp" and not by_snmp:
        raise UsageError(
            "no device to read over SNMP: set [discover] snmp_communities and "
            "run keyturn discover first"
        )
    devices = devices + by_snmp
    if not devices:
        raise UsageError(
            "no device to map: store credentials for the switches and routers "
            "first (keyturn secrets import), with their platform"
        )
    from rotation.hostkeys import HostKeyPins
    from rotation.lifecycle import known_hosts_next_to

    guard = app.config.scope_guard()
    pins = HostKeyPins(known_hosts_next_to(app.resolved_store_path))
    store = app.store
    with app.lock("topology"):
        app.audit  # noqa: B018 - a locked keyring fails now, not after the collection
        run_id = store.begin_run("topology", app.operator, app.config.client)
        try:
            t0 = time.monotonic()
            workers = min(len(devices), parallel or app.config.rotation.parallel)
            with cf.ThreadPoolExecutor(workers) as pool:
                facts = list(pool.map(lambda d: _collect_one(app, guard, pins, d), devices))
            collect_seconds = time.monotonic() - t0
            run = store.latest_run("discover")
            discovered = (host_docs.document(store, run.id) or {}).get("hosts", []) if run else []
            known = [
                {
                    "ip": h["ip"],
                    "mac": h.get("mac"),
                    "device_class": h.get("device_class"),
                    "name": (h.get("hostnames") or [""])[0],
                }
                for h in discovered
            ]
            topology = build(facts, known, app.config.scope).to_json()
            previous = store_topology.latest_document(store, before=run_id)
            topology["run_id"] = run_id
            topology["diff"] = diff(previous, topology)
            t1 = time.monotonic()
            topology["svg"], topology["svg_note"] = svg(*elements(topology, topology["diff"]))
            topology["stats"] = {
                "devices_read": sum(1 for f in facts if not f.errors),
                "devices_failed": sum(1 for f in facts if f.errors),
                "collect_seconds": round(collect_seconds, 3),
                "draw_seconds": round(time.monotonic() - t1, 3),
            }
            # Per device: what was read (counts, not the MAC tables themselves: a 300-switch
            # site would store millions of rows the model already condensed).
            topology["facts"] = [
                {k: v for k, v in f.to_json().items() if k not in ("mac_table", "arp")}
                | {"mac_entries": len(f.mac_table), "arp_entries": len(f.arp)}
                for f in facts
            ]
            store_topology.save(store, run_id, topology)
        except BaseException:
            store.finish_run(run_id, RunStatus.FAILED)
            raise
        status = RunStatus.PARTIAL if topology["errors"] else RunStatus.OK
        summary = {
            "devices": len(topology["devices"]),
            "links": len(topology["links"]),
            "hosts": len(topology["hosts"]),
            "changes": changed(topology["diff"]),
        }
        store.finish_run(run_id, status, summary)
        for fact in facts:
            if fact.pinned:  # first contact: the operator should compare the fingerprint
                app.audit.append(
                    "topology.hostkey",
                    fact.ip,
                    "pinned",
                    run_id=run_id,
                    detail={"fingerprint": fact.pinned, "platform": fact.platform},
                )
        app.audit.append(
            "topology.collect",
            app.config.client or "topology",
            str(status),
            run_id=run_id,
            detail={**summary, "read": [d.ip for d in devices], "errors": len(topology["errors"])},
        )
    return topology


def _collect_one(app: AppContext, guard, pins, device: Device) -> DeviceFacts:
    """One device's facts; every failure becomes an error in its facts, never a crash. The
    session is the rotation driver's: same preflight (host-key pin), login and privilege."""
    from agent.core.errors import KeyturnError
    from agent.topology.collect import collect
    from agent.topology.model import DeviceFacts
    from rotation.contract import DriverEnv, DriverError, Target
    from rotation.drivers import driver_for

    name = device.name or device.ip
    if device.platform == "snmp":
        return _collect_snmp(app, guard, device)
    timeout = app.config.rotation.timeout
    facts = DeviceFacts(name, device.ip, device.platform, device.device_class)
    try:
        guard.check(device.ip)
        driver_class = driver_for(device.platform)
        target = Target(device.ip, device.platform, device.username, port=device.port)
        driver_class.check_target(target)
        env = DriverEnv(
            stored=lambda user, version: app.secret_store.get(device.ip, user, version),
            pins=pins,
            timeout=timeout,
        )
        driver = driver_class(target, env)
        identity = driver.preflight()
        if identity is not None and identity.first_contact:
            facts.pinned = identity.fingerprint  # the use case audits first contacts
        password = app.secret_store.get(device.ip, device.username)
        if password is None:
            raise UsageError(f"no stored password for {device.username}@{device.ip}")
        driver.open(password)
    except (KeyturnError, DriverError, OSError) as exc:
        facts.errors.append(f"cannot read: {exc}")
        return facts
    try:
        match = _PROMPT_NAME.match((getattr(driver, "prompt", "") or "").strip())
        if match:
            name = match.group(1)

        def send(command: str) -> str:
            with driver.guard(command):
                return driver.send(command, read_timeout=timeout)

        read = collect(name, device.ip, device.platform, send, device.device_class)
        read.pinned = facts.pinned
        return read
    finally:
        driver.close()


def _collect_snmp(app: AppContext, guard, device: Device) -> DeviceFacts:
    """SNMP facts with the first of the operator's communities the device answers."""
    from agent.core.errors import KeyturnError
    from agent.core.secret import Secret
    from agent.topology.model import DeviceFacts
    from agent.topology.snmp import collect_snmp

    name = device.name or device.ip
    try:
        guard.check(device.ip)
    except KeyturnError as exc:
        return DeviceFacts(
            name, device.ip, "snmp", device.device_class, errors=[str(exc)], source="snmp"
        )
    facts = DeviceFacts(name, device.ip, "snmp", source="snmp")
    for community in app.config.discover.snmp_communities:
        facts = collect_snmp(name, device.ip, Secret(community))
        if not facts.errors:
            break
    facts.device_class = device.device_class
    if facts.errors:  # which community failed is not said: communities are secrets-ish
        facts.errors = [f"{device.ip}: no SNMP answer with the configured communities"]
    return facts


def export(document: dict[str, Any], formats: Sequence[str], out_dir: str | Path) -> list[Path]:
    """The diagram in each format into ``out_dir`` (files 0600, never through a symlink)."""
    from agent.topology.exports import EXPORTERS
    from agent.topology.graph import elements

    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise UsageError(
            f"unknown format(s) {', '.join(unknown)}; valid: {', '.join(EXPORT_FORMATS)}"
        )
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    nodes, edges = elements(document, document.get("diff"))
    written = []
    for fmt in formats:
        text = document["svg"] if fmt == "svg" else EXPORTERS[fmt](nodes, edges)
        written.append(_write_private(directory / f"topology.{fmt}", text))
    return written


def _write_private(path: Path, text: str) -> Path:
    import os

    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def summary_line(document: dict[str, Any]) -> str:
    """'N devices, L links, H hosts placed; C changes since run R' (onboard's stage line)."""
    from agent.topology.diff import changed

    line = (
        f"{len(document['devices'])} devices, {len(document['links'])} links, "
        f"{len(document['hosts'])} hosts placed"
    )
    previous = document.get("diff", {}).get("previous_run_id")
    if previous:
        line += f"; {changed(document['diff'])} changes since run {previous}"
    return line
