"""Read-only device sessions for `keyturn review`: the rotation drivers' login (stored
credential, pinned host key, privileged mode), prepared so that logging in changes nothing.

netmiko's own session preparation is not read-only on two platforms:

- FortiOS: ``FortinetSSH`` turns console paging off with ``config system console`` /
  ``set output standard`` / ``end`` and puts ``set output more`` back on disconnect. Both are
  configuration changes (FortiManager then sees the box out of sync). The read-only class
  leaves the console alone and answers the ``--More--`` pager instead.
- Cisco ASA: ``CiscoAsaSSH`` enters configuration mode for ``terminal width 511``. The
  read-only session passes ``allow_auto_change=False``; ``terminal pager 0`` (exec mode,
  this session only) still turns paging off.

Junos (``set cli ...``), RouterOS (terminal options in the login name) and Linux prepare
their sessions without touching the configuration.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.context import AppContext
    from agent.core.scope import ScopeGuard
    from agent.ops.devices import Device
    from agent.review.collect import Collected
    from rotation.hostkeys import HostKeyPins

# A pager's prompt and what the device sends to wipe it once a key was pressed.
PAGERS = {
    "fortinet": re.compile(r"--More--[ \t]*"),
    "cisco_asa": re.compile(r"<--- More --->[ \t]*"),
}
_ERASE = re.compile(r"\r[ \t]*\r|\x08+[ \t]*\x08*")


@dataclass
class DeviceRead:
    """A device's collection, or why there is none."""

    target: Device
    collected: Collected | None = None
    pinned: str = ""  # host key fingerprint pinned at first contact (the caller audits it)
    errors: list[str] = field(default_factory=list)


def read_device(
    app: AppContext, guard: ScopeGuard, pins: HostKeyPins, target: Device
) -> DeviceRead:
    """Log in read-only, collect the platform parser's commands, log out. Every failure is
    an error of the result, never an exception."""
    from agent.core.errors import KeyturnError, UsageError
    from agent.review.collect import collect
    from rotation.contract import DriverEnv, DriverError, Target
    from rotation.drivers import driver_for

    result = DeviceRead(target)
    timeout = app.config.rotation.timeout
    try:
        guard.check(target.ip)
        driver_class = read_only(driver_for(target.platform))
        rotation_target = Target(target.ip, target.platform, target.username, port=target.port)
        driver_class.check_target(rotation_target)
        env = DriverEnv(
            stored=lambda user, version: app.secret_store.get(target.ip, user, version),
            pins=pins,
            timeout=timeout,
        )
        driver = driver_class(rotation_target, env)
        identity = driver.preflight()
        if identity is not None and identity.first_contact:
            result.pinned = identity.fingerprint
        password = app.secret_store.get(target.ip, target.username)
        if password is None:
            raise UsageError(f"no stored password for {target.username}@{target.ip}")
        driver.open(password)
    except (KeyturnError, DriverError, OSError) as exc:
        result.errors.append(f"cannot read: {exc}")
        return result
    try:

        def send(command: str) -> str:
            with driver.guard(command):
                return send_paged(driver, target.platform, command, timeout)

        try:
            result.collected = collect(target.platform, send)
        except KeyturnError as exc:  # no parser for the platform, a refused command
            result.errors.append(f"cannot review: {exc}")
            return result
        result.errors.extend(result.collected.errors)
        return result
    finally:
        driver.close()


def send_paged(driver: Any, platform: str, command: str, timeout: float) -> str:
    """One command's output; where the session keeps a pager, each ``--More--`` is answered
    with a space and wiped from the text."""
    pager = PAGERS.get(platform)
    if pager is None:
        return driver.send(command)
    conn = driver.conn
    prompt = re.escape(driver.prompt.strip()) if driver.prompt else conn.prompt_pattern
    conn.write_channel(command + conn.RETURN)
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no prompt after {command!r} within {timeout:.0f} s")
        chunk = conn.read_until_pattern(f"(?:{prompt})\\s*$|{pager.pattern}$", read_timeout=left)
        text += chunk
        if pager.search(chunk[-40:]) and not re.search(f"{prompt}\\s*$", chunk):
            conn.write_channel(" ")
            continue
        break
    return _clean(text, pager, prompt, command)


def _clean(text: str, pager: re.Pattern[str], prompt: str, command: str) -> str:
    text = pager.sub("", text)
    text = _ERASE.sub("", text).replace("\r\n", "\n").replace("\r", "")
    lines = text.split("\n")
    if lines and lines[0].strip() == command.strip():
        lines = lines[1:]  # the echo of the command
    if lines and re.fullmatch(f"{prompt}\\s*", lines[-1]):
        lines = lines[:-1]
    return "\n".join(lines)


_read_only_classes: dict[type, type] = {}


def read_only(driver_class: type) -> type:
    """``driver_class`` whose login changes nothing on the device (see the module doc)."""
    if driver_class not in _read_only_classes:

        def connection_class(self: Any) -> type:
            return _read_only_connection(self.device_type, driver_class.connection_class(self))

        def connection_options(self: Any) -> dict[str, Any]:
            options = dict(driver_class.connection_options(self))
            if self.device_type == "cisco_asa":
                options["allow_auto_change"] = False  # no `terminal width` in config mode
            return options

        _read_only_classes[driver_class] = type(
            f"ReadOnly{driver_class.__name__}",
            (driver_class,),
            {"connection_class": connection_class, "connection_options": connection_options},
        )
    return _read_only_classes[driver_class]


_connections: dict[type, type] = {}


def _read_only_connection(device_type: str, base: type) -> type:
    if device_type != "fortinet":
        return base
    if base not in _connections:

        def disable_paging(self: Any, *args: Any, **kwargs: Any) -> str:
            return ""  # the console keeps its paging; send_paged answers --More--

        def cleanup(self: Any, command: str = "exit") -> None:
            # Nothing to restore: the console was never changed.
            self._original_output_mode = "standard"
            base.cleanup(self, command=command)

        _connections[base] = type(
            f"ReadOnly{base.__name__}",
            (base,),
            {"disable_paging": disable_paging, "cleanup": cleanup},
        )
    return _connections[base]
