"""Use case: review firewalls' rule bases and management planes (issue 17).

`keyturn review` and onboard's review stage call :func:`review_devices` (live, read-only:
agent/ops/review_session.py logs in with the rotation drivers' credentials and pinned host
keys and agent/review/collect.py sends only the parser's display commands);
`keyturn review --import-config` calls :func:`review_config` (a backup or export, no device
contacted). Both end in :func:`_record`: parse -> findings -> diff against the previous review
run -> store -> audit, so the two paths give the same answer for the same text.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.ops.devices import Device
    from agent.review.findings import Review
    from agent.review.model import Rule, RuleBase

log = logging.getLogger(__name__)
SCHEMA = "keyturn.review/1"
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # a firewall backup; anything bigger is not one
# Platforms that are firewalls whatever discovery called them; a router, switch or Linux
# host is reviewed from the inventory only when discovery classed it a firewall (or when a
# --targets file names it).
FIREWALL_PLATFORMS = frozenset({"fortinet", "cisco_asa", "juniper_junos", "mikrotik_routeros"})


def firewalls_to_review(app: AppContext) -> list[Device]:
    """Every stored device on a firewall platform a review parser reads, or on any platform
    a review parser reads that the latest discovery classed a firewall; alive in that
    discovery (agent/ops/devices.py)."""
    from agent.ops.devices import stored_devices
    from agent.review.platforms import PLATFORMS

    def wanted(platform: str, device_class: str) -> bool:
        return platform in PLATFORMS and (
            platform in FIREWALL_PLATFORMS or device_class == "firewall"
        )

    return stored_devices(app, wanted)


def targets_from_file(path: str) -> list[Device]:
    """The ``[[device]]`` tables of a targets file (the rotation format) whose platform has
    a review parser; another platform is an error, not a silent skip."""
    from agent.ops.devices import Device
    from agent.review.platforms import parser_for
    from rotation.targets import load_targets_file

    targets = []
    for t in load_targets_file(path):
        parser_for(t.platform)  # UsageError naming the platforms a review reads
        targets.append(Device(t.host, t.platform, t.login or t.username, port=t.port))
    if not targets:
        raise UsageError(f"{path}: no [[device]] to review")
    return targets


def review_devices(
    app: AppContext, targets: Sequence[Device], *, parallel: int | None = None
) -> dict[str, Any]:
    """Collect each firewall read-only, parse, review, store one run; returns its document."""
    from agent.ops.review_session import read_device
    from agent.review.platforms import parser_for
    from rotation.hostkeys import HostKeyPins
    from rotation.lifecycle import known_hosts_next_to

    if not targets:
        raise UsageError(
            "no firewall to review: store credentials for the firewalls first (keyturn "
            "secrets import, with their platform), or review a backup with --import-config"
        )
    guard = app.config.scope_guard()
    pins = HostKeyPins(known_hosts_next_to(app.resolved_store_path))
    app.audit  # noqa: B018 - a locked keyring fails now, not after the collection
    t0 = time.monotonic()
    workers = min(len(targets), parallel or app.config.rotation.parallel)
    with cf.ThreadPoolExecutor(workers) as pool:
        reads = list(pool.map(lambda t: read_device(app, guard, pins, t), targets))
    collect_seconds = time.monotonic() - t0
    entries = []
    for read in reads:
        target, base = read.target, None
        errors = list(read.errors)
        if read.collected is not None and read.collected.config:
            parser = parser_for(target.platform)
            base = parser.parse(read.collected.config, device=target.name or target.ip)
            if read.collected.counters:
                parser.apply_counters(base, read.collected.counters)
        entries.append(
            {"base": base, "ip": target.ip, "platform": target.platform,
             "name": target.name or target.ip, "errors": errors, "pinned": read.pinned}
        )  # fmt: skip
    return _record(app, entries, "devices", {"collect_seconds": round(collect_seconds, 3)})


def review_config(app: AppContext, path: str, platform: str) -> dict[str, Any]:
    """Review a configuration exported by hand or taken from a backup: the same parser and
    analysis as a live review, no device contacted."""
    from agent.review.platforms import parser_for

    parser = parser_for(platform)
    file = Path(path)
    try:
        if not file.is_file():
            raise UsageError(f"{path}: not a file")
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise UsageError(f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB")
        text = file.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    base = parser.parse(text, device=file.name)
    entry = {"base": base, "ip": "", "platform": platform, "name": file.name, "errors": []}
    return _record(app, [entry], "import", {})


def review_bases(app: AppContext, bases: Sequence[RuleBase]) -> dict[str, Any]:
    """Review rule bases already parsed (tests, other use cases); stored like any run."""
    entries = [
        {"base": b, "ip": "", "platform": b.platform, "name": b.device, "errors": []} for b in bases
    ]
    return _record(app, entries, "import", {})


def _record(
    app: AppContext, entries: list[dict[str, Any]], source: str, stats: dict[str, Any]
) -> dict[str, Any]:
    from agent.review.findings import review
    from inventory import review as stored
    from inventory.store import RunStatus

    store = app.store
    with app.lock("review"):
        run_id = store.begin_run("review", app.operator, app.config.client)
        try:
            t0 = time.monotonic()
            devices = []
            for entry in entries:
                result = None
                if entry["base"] is not None:
                    result = review(entry["base"], app.config.review.untrusted)
                devices.append(device_document(entry, result))
            stats["analysis_seconds"] = round(time.monotonic() - t0, 3)
            current = [r for d in devices for r in d["rules"]]
            previous, before = stored.previous_rules(store, run_id, [d["device"] for d in devices])
            document: dict[str, Any] = {
                "schema": SCHEMA,
                "run_id": run_id,
                "source": source,
                "devices": devices,
                "diff": {
                    "previous_run_id": previous,
                    **stored.diff(before, current),
                },
                "errors": [f"{d['device']}: {e}" for d in devices for e in d["errors"]],
                "stats": stats
                | {
                    "devices": len(devices),
                    "rules": len(current),
                    "findings": sum(len(d["findings"]) for d in devices),
                },
            }
            stored.save(store, run_id, document)
        except BaseException:
            store.finish_run(run_id, RunStatus.FAILED)
            raise
        status = RunStatus.PARTIAL if document["errors"] else RunStatus.OK
        summary = {"devices": len(devices), "findings": document["stats"]["findings"]}
        store.finish_run(run_id, status, summary)
        for entry in entries:
            if entry.get("pinned"):
                app.audit.append(
                    "review.hostkey", entry["ip"], "pinned", run_id=run_id,
                    detail={"fingerprint": entry["pinned"], "platform": entry["platform"]},
                )  # fmt: skip
        app.audit.append(
            "review.run",
            app.config.client or "review",
            str(status),
            run_id=run_id,
            detail={**summary, "source": source, "read": [d["device"] for d in devices]},
        )
    return document


def device_document(entry: dict[str, Any], result: Review | None) -> dict[str, Any]:
    """One device's part of the review document (JSON-safe)."""
    from agent.review.fixes import suggest

    base = result.base if result else None
    name = (base.device if base and base.device else "") or entry["name"]
    doc: dict[str, Any] = {
        "device": name,
        "ip": entry["ip"],
        "platform": entry["platform"],
        "errors": entry["errors"],
        "warnings": list(base.warnings) if base else [],
        "rules": [rule_row(name, entry["platform"], r) for r in base.rules] if base else [],
        "findings": [f.to_json() for f in result.findings] if result else [],
        "exposures": result.exposures if result else [],
        "untrusted": result.untrusted if result else [],
        "untrusted_source": result.untrusted_source if result else "unknown",
        "counter_baseline_seconds": base.counter_baseline_seconds if base else None,
        "fixes": suggest(result) if result else "",
    }
    for finding in doc["findings"]:
        finding["device"] = name
    return doc


def rule_row(device: str, platform: str, rule: Rule) -> dict[str, Any]:
    """A rule as stored and exported: the model's fields as text, and its fingerprint."""
    from agent.review.text import address_set_text, services_text

    row = {
        "device": device,
        "platform": platform,
        "tbl": rule.table,
        "rule_id": rule.id,
        "pos": rule.position,
        "verdict": rule.action,
        "sources": address_set_text(rule.sources),
        "destinations": address_set_text(rule.destinations),
        "services": services_text(rule.services),
        "src_zones": ",".join(rule.src_zones) or "any",
        "dst_zones": ",".join(rule.dst_zones) or "any",
        "logged": int(rule.log),
        "enabled": int(rule.enabled),
        "hits": rule.hits,
        "implicit": int(rule.implicit),
    }
    meaning = [rule.action, rule.sources.ranges, rule.sources.negated, rule.destinations.ranges,
               rule.destinations.negated, [(s.protocol, s.ports) for s in rule.services],
               rule.src_zones, rule.dst_zones, rule.log, rule.enabled, rule.schedule]  # fmt: skip
    row["fingerprint"] = hashlib.sha256(json.dumps(meaning).encode()).hexdigest()[:16]
    return row | {
        "name": rule.name,
        "comment": rule.comment,
        "schedule": rule.schedule,
        "lines": list(rule.lines),
    }


CSV_COLUMNS = (
    "device", "platform", "tbl", "pos", "rule_id", "name", "verdict", "src_zones", "dst_zones",
    "sources", "destinations", "services", "logged", "enabled", "hits", "implicit", "schedule",
    "comment",
)  # fmt: skip


def export(document: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Per device, its suggested fixes (``fixes-<device>.txt``) and its rule base as CSV
    (``rules-<device>.csv``), files 0600, never through a symlink."""
    import csv
    import io
    import re

    from agent.core import files

    directory = files.private_dir(out_dir)
    written = []
    for n, device in enumerate(document["devices"], start=1):
        # The name came from a device or a file: only a safe token of it reaches a path.
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", device["device"]).strip("._")[:60] or str(n)
        if device["fixes"]:
            path = directory / f"fixes-{stem}.txt"
            files.write_atomic(path, device["fixes"])
            written.append(path)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for rule in device["rules"]:
            writer.writerow([_cell(rule.get(c)) for c in CSV_COLUMNS])
        path = directory / f"rules-{stem}.csv"
        files.write_atomic(path, buffer.getvalue())
        written.append(path)
    return written


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: device text starting with = + - @ is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def summary_line(document: dict[str, Any]) -> str:
    """'N firewall(s), R rules, F findings (C critical, H high); D rule changes since run P'."""
    counts: dict[str, int] = {}
    for device in document["devices"]:
        for finding in device["findings"]:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    severe = ", ".join(f"{counts[s]} {s}" for s in ("critical", "high") if counts.get(s))
    stats = document["stats"]
    line = (
        f"{stats['devices']} firewall(s), {stats['rules']} rules, {stats['findings']} findings"
        + (f" ({severe})" if severe else "")
    )
    diff = document["diff"]
    if diff.get("previous_run_id"):
        changes = len(diff["added"]) + len(diff["removed"]) + len(diff["changed"])
        line += f"; {changes} rule change(s) since run {diff['previous_run_id']}"
    return line


def text_lines(document: dict[str, Any]) -> list[str]:
    """The terminal view: per device, the internet exposure table first, then each finding
    with the first config line it cites."""
    out = []
    for device in document["devices"]:
        untrusted = ", ".join(device["untrusted"]) or "unknown"
        out.append(
            f"{device['device']} ({device['platform']}), untrusted side: {untrusted}"
            f" ({device['untrusted_source']})"
        )
        for e in device["exposures"]:
            out.append(
                f"  exposed: {e['external']} {e['protocol']}/{e['ports']} -> {e['internal']}"
                f" ({e['service']}) from {e['sources']} via {e['nat']}, rule(s) "
                f"{', '.join(e['rules'])}"
            )
        for f in device["findings"]:
            cited = f" | {f['lines'][0]}" if f["lines"] else ""
            out.append(f"  {f['severity']:<8} {f['id']:<24} {f['subject']}: {f['detail']}{cited}")
    return out
