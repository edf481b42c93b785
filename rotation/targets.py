"""Where rotation targets come from: a TOML targets file or the latest discover run."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.core.errors import ConfigError, UsageError
from rotation.drivers import DRIVERS
from rotation.drivers.base import ENABLE_ACCOUNT, Target

FIELDS = {"host", "platform", "username", "port", "login", "enable_account", "device_class"}


def load_targets_file(path: str | Path, account: str | None = None) -> list[Target]:
    """``[[device]]`` tables: host, platform, username (+ port, login, enable_account)."""
    label = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML: {exc}") from None
    devices = data.get("device")
    if not isinstance(devices, list) or not devices:
        raise ConfigError(f"{label}: no [[device]] tables")
    targets = []
    for number, item in enumerate(devices, start=1):
        targets.append(_target(item, f"{label}: device {number}", account))
    return [t for t in targets if account is None or t.username == account]


def _target(item: dict[str, Any], where: str, account: str | None) -> Target:
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = [k for k in ("host", "platform") if not item.get(k)]
    if not item.get("username") and not account:
        missing.append("username")
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    if item["platform"] not in DRIVERS:
        raise ConfigError(
            f"{where}: unknown platform {item['platform']!r}; valid: {', '.join(sorted(DRIVERS))}"
        )
    port = item.get("port", 22)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}: bad port {port!r}")
    return Target(
        host=str(item["host"]),
        platform=item["platform"],
        username=str(item.get("username") or account),
        port=port,
        login=item.get("login"),
        enable_account=item.get("enable_account"),
        device_class=item.get("device_class"),
    )


def targets_from_inventory(
    hosts: list[dict[str, Any]], accounts_for: Any, account: str | None = None
) -> list[Target]:
    """One target per (discovered host with a platform, account). ``accounts_for(ip)`` lists
    the stored accounts for a host when neither --account nor [rotation] accounts say."""
    targets = []
    for host in hosts:
        if host["platform"] not in DRIVERS:
            continue
        names = [account] if account else accounts_for(host["ip"])
        for name in names:
            if name == ENABLE_ACCOUNT:
                continue  # an enable secret is rotated only when a targets file asks
            targets.append(
                Target(
                    host=host["ip"],
                    platform=host["platform"],
                    username=name,
                    device_class=host.get("device_class"),
                )
            )
    if not targets:
        raise UsageError(
            "the latest discover run lists no host with a known platform and a "
            "stored account (run keyturn discover, keyturn secrets import)"
        )
    return targets
