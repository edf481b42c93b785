"""Read-only collection: the platform's neighbour, MAC-table and ARP commands through a
session the caller opened (``send(command) -> output``), parsed into ``DeviceFacts``.

Only the fixed command strings of ``parsers.COMMANDS`` are ever sent: nothing a device or
a file says becomes part of a command.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.core.secret import scrub
from agent.topology.model import DeviceFacts
from agent.topology.parsers import COMMANDS, parse_arp, parse_macs, parse_neighbors

# Output that means "this CLI has no such command / feature off", not a failure of the run.
_UNSUPPORTED = (
    "% invalid",
    "invalid input",
    "unknown command",
    "syntax error",
    "% cdp is not enabled",
    "% lldp is not enabled",
    "bad command name",
)


def supported(platform: str) -> bool:
    return platform in COMMANDS


def collect(
    name: str, ip: str, platform: str, send: Callable[[str], str], device_class: str = ""
) -> DeviceFacts:
    """Every command of the platform in turn; a command the device refuses is noted in
    ``errors`` and the others still run."""
    facts = DeviceFacts(name=name, ip=ip, platform=platform, device_class=device_class)
    for kind, command in COMMANDS.get(platform, {}).items():
        try:
            output = send(command)
        except Exception as exc:  # one command's failure is a recorded error, not the end
            facts.errors.append(
                f"{command}: {scrub(str(exc)).splitlines()[0][:160]}"
                if str(exc)
                else f"{command}: {type(exc).__name__}"
            )
            continue
        if any(marker in output.lower()[:300] for marker in _UNSUPPORTED):
            facts.unsupported.append(command)
            continue
        if kind in ("cdp", "lldp"):
            facts.neighbors.extend(parse_neighbors(platform, kind, output))
        elif kind == "mac":
            facts.mac_table.extend(parse_macs(platform, output))
        elif kind == "arp":
            facts.arp.extend(parse_arp(platform, output))
    return facts
