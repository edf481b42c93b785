"""The devices keyturn logs in to only to read them (topology, review): the keyring's
accounts, narrowed to the addresses the latest discovery found alive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.core.scope import is_address

if TYPE_CHECKING:
    from agent.context import AppContext


@dataclass(frozen=True)
class Device:
    """One device to read: where, which platform, which stored account logs in."""

    ip: str
    platform: str
    username: str
    name: str = ""
    device_class: str = ""
    port: int = 22


def stored_devices(app: AppContext, wanted: Callable[[str, str], bool]) -> list[Device]:
    """Every keyring entry with a current password whose platform and discovered device
    class ``wanted`` accepts (the enable secret is a second credential of its device, not a
    device); once a discover run exists, only the addresses it found alive (a retired
    device's credential stays in the keyring, and what is read is the network as
    discovered)."""
    from inventory import hosts as host_docs

    run = app.store.latest_run("discover")
    discovered = (host_docs.document(app.store, run.id) or {}).get("hosts", []) if run else []
    names = {h["ip"]: (h.get("hostnames") or [""])[0] for h in discovered}
    classes = {h["ip"]: h.get("device_class") or "" for h in discovered}
    ports = target_ports(app)
    devices: dict[str, Device] = {}
    for entry in app.secret_store.entries():
        if "current" not in entry.versions or entry.user == "enable":
            continue
        if discovered and is_address(entry.host) and entry.host not in names:
            continue  # the latest discovery did not find it alive
        if entry.host in devices or not wanted(entry.platform or "", classes.get(entry.host, "")):
            continue
        devices[entry.host] = Device(
            entry.host,
            entry.platform,
            entry.user,
            names.get(entry.host, ""),
            classes.get(entry.host, ""),
            ports.get(entry.host, 22),
        )
    return sorted(devices.values(), key=lambda d: d.ip)


def target_ports(app: AppContext) -> dict[str, int]:
    """SSH ports from the site's [rotation] targets file, where it names devices on a port
    other than 22 (the keyring keeps no port)."""
    from agent.core.errors import KeyturnError
    from rotation.targets import load_targets_file

    path = app.config.rotation.targets
    if not path:
        return {}
    try:
        return {t.host: t.port for t in load_targets_file(path)}
    except KeyturnError:
        return {}  # a broken targets file is the rotation's error to report, not a reader's
