"""Where rotation targets come from: a TOML targets file or the latest discover run.

A targets file is schema-checked (unknown keys, wrong types, bad names are one line naming the
file, the table and the key) and every host and account name passes the identifier grammar
before it can reach a device command.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from agent.core.errors import ConfigError, UsageError
from agent.core.identifiers import check_directory_account, check_host, check_username
from rotation.binding import DirectoryBinding
from rotation.drivers import DRIVERS
from rotation.drivers.base import ENABLE_ACCOUNT, Target


class NoTargets(UsageError):
    """The inventory lists no host (with a stored account) to act on."""


# A Windows local account addressed by its RID (rid:500: the built-in Administrator).
RID_ACCOUNT = re.compile(r"rid:[0-9]{1,10}")


class DeviceEntry(BaseModel):
    """One ``[[device]]`` table. Strict types: ``login = 5`` is an error here, not a
    TypeError deep inside a rotation."""

    model_config = ConfigDict(extra="forbid")

    host: StrictStr
    platform: StrictStr
    username: StrictStr | None = None
    # Default: 22 over SSH, 23 over telnet.
    port: StrictInt | None = Field(None, gt=0, lt=65536)
    login: StrictStr | None = None
    enable_account: StrictStr | None = None
    device_class: StrictStr | None = None
    transport: StrictStr = "ssh"


FIELDS = set(DeviceEntry.model_fields)


class AccountEntry(BaseModel):
    """One ``[[account]]`` table: a credential that is not a device's (kind ``ad``: a
    domain account on the ``[ad]`` DC; ``windows_local``: a Windows host's local account)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ad", "windows_local"]
    name: StrictStr
    host: StrictStr | None = None
    login: StrictStr | None = None
    port: StrictInt | None = Field(None, gt=0, lt=65536)


def ad_target(name: str, directory: DirectoryBinding | None, where: str) -> Target:
    if directory is None:
        raise ConfigError(f"{where}: kind 'ad' needs [ad] server and [ad] user in the config")
    try:
        sam = check_directory_account(name, "name")
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Target(
        host=directory.host, platform="ad", username=sam, port=directory.port,
        login=directory.login,
    )  # fmt: skip


def bind_account_last(targets: list[Target]) -> list[Target]:
    """The ``ad`` target that is the bind account itself goes after every other one: the
    run binds with its stored password until the end (its item updates the [ad] credential)."""
    own = [t for t in targets if t.platform == "ad" and t.username == t.login]
    return [t for t in targets if t not in own] + own


def account_names(account: str | Sequence[str] | None) -> list[str]:
    """``--account`` as a list: one name, several (the flag repeated), or none."""
    if account is None:
        return []
    return [account] if isinstance(account, str) else list(account)


def load_targets_file(
    path: str | Path,
    account: str | Sequence[str] | None = None,
    directory: DirectoryBinding | None = None,
) -> list[Target]:
    """``[[device]]`` tables: host, platform, username (+ port, login, enable_account);
    ``[[account]]`` tables: kind, name (+ host, login, port). ``account``: only these
    accounts (and the username of a ``[[device]]`` table that names none)."""
    label = str(path)
    names = account_names(account)
    for name in names:
        if RID_ACCOUNT.fullmatch(name) is None:
            check_username(name, "--account")
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML: {exc}") from None
    devices, accounts = data.get("device", []), data.get("account", [])
    if not isinstance(devices, list) or not isinstance(accounts, list) or not (devices or accounts):
        raise ConfigError(f"{label}: no [[device]] tables (nor [[account]] tables)")
    unknown = sorted(set(data) - {"device", "account"})
    if unknown:
        raise ConfigError(
            f"{label}: unknown key(s) {', '.join(unknown)} (only [[device]] and [[account]] tables)"
        )
    targets = []
    for number, item in enumerate(devices, start=1):
        for name in names or [None]:
            targets.append(_target(item, f"{label}: [[device]] {number}", name))
    for number, item in enumerate(accounts, start=1):
        targets.append(_account(item, f"{label}: [[account]] {number}", directory))
    # A [[device]] table naming its username yields it once per --account name: keep one.
    unique = list(dict.fromkeys(targets))
    return bind_account_last([t for t in unique if not names or t.username in names])


def _account(item: Any, where: str, directory: DirectoryBinding | None) -> Target:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: not a table")
    try:
        entry = AccountEntry.model_validate(item)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    if entry.kind == "ad":
        return ad_target(entry.name, directory, where)
    if "windows_local" not in DRIVERS:
        raise ConfigError(f"{where}: kind 'windows_local' is not available in this build")
    if entry.host is None:
        raise ConfigError(f"{where}: missing key 'host' (kind windows_local)")
    try:
        host = check_host(entry.host, "host")
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Target(
        host=host, platform="windows_local", username=entry.name, port=entry.port or 445,
        login=entry.login,
    )  # fmt: skip


def _target(item: Any, where: str, account: str | None) -> Target:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: not a table")
    try:
        entry = DeviceEntry.model_validate(item)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    if not entry.username and not account:
        raise ConfigError(f"{where}: missing key 'username' (or give --account)")
    if entry.platform not in DRIVERS:
        raise ConfigError(
            f"{where}: unknown platform {entry.platform!a}; valid: {', '.join(sorted(DRIVERS))}"
        )
    if entry.transport == "telnet" and entry.platform not in DRIVERS.telnet():
        # Explicit only: a password typed over telnet crosses the network in clear, and
        # only some platforms have a telnet driver. Never fall back to SSH silently.
        raise ConfigError(
            f'{where}: transport = "telnet" is not supported for {entry.platform!a} '
            f"(telnet: {', '.join(sorted(DRIVERS.telnet()))}); enable SSH on the device"
        )
    if entry.transport not in ("ssh", "telnet"):
        raise ConfigError(f"{where}: unknown transport {entry.transport!a}; valid: ssh, telnet")
    try:
        host = check_host(entry.host, "host")
        username = check_username(entry.username or account or "", "username")
        login = check_username(entry.login, "login") if entry.login is not None else None
        enable = entry.enable_account
        if enable is not None:
            check_username(enable, "enable_account")
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Target(
        host=host,
        platform=entry.platform,
        username=username,
        port=entry.port or (23 if entry.transport == "telnet" else 22),
        login=login,
        enable_account=enable,
        device_class=entry.device_class,
        transport=entry.transport,
    )


def _describe(exc: ValidationError) -> str:
    """The first problem as "KEY: reason" (pydantic's own text, one line)."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "table"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    got = ascii(error.get("input"))
    return f"bad value for '{key}': {error['msg']} (got {got[:60]})"


def targets_from_inventory(
    hosts: list[dict[str, Any]],
    accounts_for: Any,
    account: str | Sequence[str] | None = None,
    allow_telnet: bool = False,
) -> list[Target]:
    """One target per (discovered host with a platform, account). ``accounts_for(ip)`` lists
    the stored accounts for a host when neither --account nor [rotation] accounts say. A
    host seen with telnet and without SSH is refused unless ``allow_telnet`` (then rotated
    over telnet where its platform has a telnet driver)."""
    wanted = account_names(account)
    for name in wanted:
        if RID_ACCOUNT.fullmatch(name) is None:
            check_username(name, "--account")
    targets = []
    for host in hosts:
        if host["platform"] not in DRIVERS:
            continue
        windows = host["platform"] == "windows_local"
        # rid:N names a Windows local account only.
        named = [n for n in wanted if windows or RID_ACCOUNT.fullmatch(n) is None]
        if wanted and not named:
            continue
        ports = host.get("ports") or []
        transport = "ssh"
        if host["platform"] != "windows_local" and ports and not any(_is_ssh(p) for p in ports):
            if not any(_is_telnet(p) for p in ports) or host["platform"] not in DRIVERS.telnet():
                continue  # seen without SSH (SNMP only, no telnet driver): never rotated
            if not allow_telnet:
                raise UsageError(
                    f"{host['ip']} answers telnet but not SSH: rotating it sends both "
                    "passwords in clear; pass --allow-telnet to do so, or enable SSH on it"
                )
            transport = "telnet"
        for name in named or accounts_for(host["ip"]):
            if name == ENABLE_ACCOUNT:
                continue  # an enable secret is rotated only when a targets file asks
            targets.append(
                Target(
                    host=host["ip"],
                    platform=host["platform"],
                    username=name,
                    port=_default_port(host, transport),
                    device_class=host.get("device_class"),
                    transport=transport,
                )
            )
    if not targets:
        raise NoTargets(
            "the latest discover run lists no host with a known platform and a "
            "stored account (run keyturn discover, keyturn secrets import)"
        )
    return targets


def _default_port(host: dict[str, Any], transport: str) -> int:
    if transport == "telnet":
        return 23
    return int(host.get("port", 445 if host["platform"] == "windows_local" else 22))


def _is_ssh(port: Any) -> bool:
    """An open SSH port, whether the inventory gave a dict or a Port."""
    return _is_open(port, 22, "ssh")


def _is_telnet(port: Any) -> bool:
    return _is_open(port, 23, "telnet")


def _is_open(port: Any, number: int, service: str) -> bool:
    get = (
        port.get
        if isinstance(port, dict)
        else lambda key, default=None: getattr(port, key, default)
    )
    return get("state", "open") == "open" and (get("port") == number or get("service") == service)
