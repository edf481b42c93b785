"""Platform name (netmiko device_type) -> driver class. The only list of platforms.

Adding a platform: a small module in this package and one line here; the engine never
changes. Modules are imported when first asked for, so the CLI's --help stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from rotation.drivers.base import Driver

DRIVERS: dict[str, str] = {
    "cisco_ios": "rotation.drivers.cisco_ios:CiscoIosDriver",
    "cisco_asa": "rotation.drivers.cisco_asa:CiscoAsaDriver",
    "cisco_nxos": "rotation.drivers.cisco_nxos:CiscoNxosDriver",
    "arista_eos": "rotation.drivers.arista_eos:AristaEosDriver",
    "juniper_junos": "rotation.drivers.juniper_junos:JuniperJunosDriver",
    "fortinet": "rotation.drivers.fortinet:FortinetDriver",
    "mikrotik_routeros": "rotation.drivers.mikrotik_routeros:MikrotikRouterosDriver",
    "linux": "rotation.drivers.linux:LinuxDriver",
}


def driver_for(platform: str) -> type[Driver]:
    """The driver class for ``platform``; UsageError listing the valid names otherwise."""
    try:
        module, _, name = DRIVERS[platform].partition(":")
    except KeyError:
        raise UsageError(
            f"no rotation driver for platform {platform!r}; valid: {', '.join(sorted(DRIVERS))}"
        ) from None
    return getattr(importlib.import_module(module), name)
