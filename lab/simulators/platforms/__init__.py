"""Platform name (netmiko device_type) -> the shell class that simulates its CLI."""

from __future__ import annotations

from lab.simulators.platforms.arista_eos import AristaEosShell
from lab.simulators.platforms.cisco_asa import CiscoAsaShell
from lab.simulators.platforms.cisco_ios import CiscoIosShell
from lab.simulators.platforms.cisco_nxos import CiscoNxosShell
from lab.simulators.platforms.fortinet import FortinetShell
from lab.simulators.platforms.juniper_junos import JunosShell
from lab.simulators.platforms.mikrotik_routeros import MikrotikShell
from lab.simulators.shell import Shell

PLATFORMS: dict[str, type[Shell]] = {
    "cisco_ios": CiscoIosShell,
    "cisco_asa": CiscoAsaShell,
    "cisco_nxos": CiscoNxosShell,
    "arista_eos": AristaEosShell,
    "juniper_junos": JunosShell,
    "fortinet": FortinetShell,
    "mikrotik_routeros": MikrotikShell,
}
