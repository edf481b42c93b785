"""The report's network diagram section, from the newest finished topology run."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from inventory import queries
from inventory.store import Store
from reports.svg import sanitize


def topology_section(store: Store, upto: int | None) -> dict[str, Any] | None:
    """None when no topology run exists; else the diagram, its groups and its changes."""
    run = queries.run_of_kind(store, "topology", upto=upto)
    if run is None:
        return None
    doc = queries.run_document(store, run.id, "topology")
    if not doc:
        return None
    groups: dict[tuple[str, Any], list[dict]] = defaultdict(list)
    for host in doc.get("hosts", []):
        groups[(host.get("device", ""), host.get("vlan"))].append(
            {k: host.get(k) for k in ("port", "name", "ip", "mac")}
        )
    diff = doc.get("diff") or {}
    svg = sanitize(doc.get("svg") or "")
    return {
        "run_id": run.id,
        "svg": svg,
        "note": doc.get("svg_note") or ("" if svg else "The stored diagram could not be shown."),
        "devices": [
            {k: d.get(k) for k in ("id", "name", "ips", "device_class", "platform", "collected")}
            for d in doc.get("devices", [])
        ],
        "links": [
            {k: link.get(k) for k in ("a", "a_port", "b", "b_port", "kind", "protocols")}
            for link in doc.get("links", [])
        ],
        "groups": [
            {"device": device, "vlan": vlan, "hosts": hosts}
            for (device, vlan), hosts in sorted(
                groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))
            )
        ],
        "unplaced": doc.get("unplaced", []),
        "subnets": doc.get("subnets", []),
        "changes": {
            k: diff.get(k, [])
            for k in (
                "links_added",
                "links_removed",
                "hosts_moved",
                "hosts_new",
                "hosts_gone",
                "devices_new",
                "devices_gone",
            )
        },
        "previous_run_id": diff.get("previous_run_id"),
        "errors": doc.get("errors", []),
    }
