"""What changed between two topology documents: links, hosts' ports, devices."""

from __future__ import annotations

from typing import Any


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Empty lists when there is no previous run (``previous`` says which run was compared)."""
    out: dict[str, Any] = {
        "previous_run_id": (old or {}).get("run_id"),
        "links_added": [], "links_removed": [], "hosts_moved": [], "hosts_new": [],
        "hosts_gone": [], "devices_new": [], "devices_gone": [],
    }  # fmt: skip
    if not old:
        return out
    old_links = {link["key"]: link for link in old.get("links", [])}
    new_links = {link["key"]: link for link in new.get("links", [])}
    out["links_added"] = [new_links[k] for k in sorted(new_links.keys() - old_links.keys())]
    out["links_removed"] = [old_links[k] for k in sorted(old_links.keys() - new_links.keys())]
    old_devices = {d["id"] for d in old.get("devices", [])}
    new_devices = {d["id"] for d in new.get("devices", [])}
    out["devices_new"] = sorted(new_devices - old_devices)
    out["devices_gone"] = sorted(old_devices - new_devices)
    before = {h["mac"]: h for h in old.get("hosts", []) if h.get("mac")}
    after = {h["mac"]: h for h in new.get("hosts", []) if h.get("mac")}
    for mac in sorted(after.keys() & before.keys()):
        a, b = before[mac], after[mac]
        if (a["device"], a["port"]) != (b["device"], b["port"]):
            out["hosts_moved"].append({
                "mac": mac, "ip": b.get("ip", ""), "name": b.get("name", ""),
                "from": {"device": a["device"], "port": a["port"], "vlan": a.get("vlan")},
                "to": {"device": b["device"], "port": b["port"], "vlan": b.get("vlan")},
            })  # fmt: skip
    out["hosts_new"] = [_brief(after[m]) for m in sorted(after.keys() - before.keys())]
    out["hosts_gone"] = [_brief(before[m]) for m in sorted(before.keys() - after.keys())]
    return out


def changed(summary: dict[str, Any]) -> int:
    return sum(len(v) for k, v in summary.items() if isinstance(v, list))


def _brief(host: dict[str, Any]) -> dict[str, Any]:
    keys = ("mac", "ip", "name", "device", "port", "vlan")
    return {k: host.get(k) for k in keys}
