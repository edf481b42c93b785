"""Device output -> plain records. ntc-templates (the TextFSM templates netmiko brings) first;
small regex parsers only where no template exists (Linux ``ip neigh`` / ``bridge fdb``).

Everything here is hostile input: a field that does not look like a MAC, an address or an
interface name is dropped, never passed on, and names are stripped of control characters.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass

from agent.core.identifiers import control_characters

# kind -> command, per platform (netmiko device_type). The command strings are the ones
# ntc-templates indexes; a kind a platform lacks is simply not asked.
COMMANDS: dict[str, dict[str, str]] = {
    "cisco_ios": {
        "cdp": "show cdp neighbors detail",
        "lldp": "show lldp neighbors detail",
        "mac": "show mac address-table",
        "arp": "show ip arp",
    },
    "cisco_nxos": {
        "cdp": "show cdp neighbors detail",
        "lldp": "show lldp neighbors detail",
        "mac": "show mac address-table",
        "arp": "show ip arp",
    },
    "arista_eos": {
        "lldp": "show lldp neighbors detail",
        "mac": "show mac address-table",
        "arp": "show ip arp",
    },
    "juniper_junos": {"lldp": "show lldp neighbors"},
    "mikrotik_routeros": {
        "lldp": "/ip neighbor print detail",
        "mac": "/interface bridge host print terse without-paging",
        "arp": "/ip arp print terse without-paging",
    },
    "linux": {"arp": "ip -4 neigh show", "mac": "bridge fdb show"},
}

# The interface-name abbreviations devices use in neighbour and MAC tables, longest first.
_ABBREVIATIONS = (
    ("TenGigabitEthernet", "Te"), ("TwentyFiveGigE", "Twe"), ("FortyGigabitEthernet", "Fo"),
    ("HundredGigE", "Hu"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("Port-Channel", "Po"), ("Port-channel", "Po"), ("Ethernet", "Eth"), ("Ethernet", "Et"),
    ("Vlan", "Vl"),
)  # fmt: skip
_ABBREV_RE = re.compile(r"^([A-Za-z-]+?)(\d[\d/.:]*)$")
_MAC_HEX = re.compile(r"[0-9a-f]{12}")
_PORT_OK = re.compile(r"^[\w./:@-]{1,64}$")
# Forwarding-table "ports" that are not ports: the CPU, the supervisor, discard entries.
_PSEUDO_PORTS = {"cpu", "drop", "router", "switch", "self", "sup-eth1", "sup-eth2", "vpc peer-link"}


@dataclass(frozen=True)
class Neighbor:
    """One LLDP/CDP entry: what is on the far end of ``local_port``."""

    protocol: str
    local_port: str
    name: str
    port: str
    chassis: str = ""
    mgmt_ip: str = ""
    platform: str = ""
    capabilities: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MacEntry:
    mac: str
    vlan: int | None
    port: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArpEntry:
    ip: str
    mac: str
    interface: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def normalize_mac(value: str) -> str:
    """Any of 0011.2233.4455 / 00:11:22:33:44:55 / 00-11-... -> 00:11:22:33:44:55, or ''."""
    digits = re.sub(r"[.:\-\s]", "", (value or "").strip().lower())
    if not _MAC_HEX.fullmatch(digits):
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_port(value: str) -> str:
    """Expand the usual abbreviations (Gi1/0/1 -> GigabitEthernet1/0/1, Et7 -> Ethernet7) so
    the same port named by two tables compares equal; '' for anything not port-shaped."""
    value = (value or "").strip().strip('"')
    if not value or not _PORT_OK.match(value) or value.lower() in _PSEUDO_PORTS:
        return ""
    match = _ABBREV_RE.match(value)
    if match:
        prefix, rest = match.groups()
        for full, short in _ABBREVIATIONS:
            # Abbreviations compare case-sensitively: Linux's eth1 is not Ethernet1.
            if prefix == short or prefix.lower() == full.lower():
                return full + rest
    return value


def clean_text(value: str, limit: int = 120) -> str:
    text = "".join(" " if control_characters(ch) else ch for ch in str(value or ""))
    return " ".join(text.split())[:limit]


def clean_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return ""


def _template_rows(platform: str, command: str, output: str) -> list[dict]:
    from ntc_templates.parse import parse_output

    try:
        return parse_output(platform=platform, command=command, data=output)
    except Exception:  # a template that cannot read this output: no rows, not a crash
        return []


def _first(row: dict, *keys: str) -> str:
    """The first non-empty field among ``keys`` (template versions renamed some fields)."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, list):
            value = value[0] if value else ""
        if value:
            return str(value)
    return ""


def parse_neighbors(platform: str, kind: str, output: str) -> list[Neighbor]:
    """LLDP or CDP neighbours from ``COMMANDS[platform][kind]``'s output."""
    command = COMMANDS.get(platform, {}).get(kind)
    if not command:
        return []
    out = []
    for row in _template_rows(platform, command, output):
        local = normalize_port(_first(row, "local_interface", "local_port"))
        name = clean_text(
            _first(row, "neighbor_name", "neighbor", "destination_host", "system_name", "identity")
        )
        port = normalize_port(
            _first(
                row,
                "neighbor_interface",
                "neighbor_port_id",
                "port_id",
                "interface_name",
                "port_info",
            )
        )
        raw_chassis = _first(row, "chassis_id", "mac_address")
        chassis = normalize_mac(raw_chassis)
        if not name and not chassis and raw_chassis:
            # NX-OS CDP puts the Device ID ("PERIMETER", "sw1(SERIAL)") in chassis_id.
            name = clean_text(raw_chassis.split("(", 1)[0])
        if platform == "mikrotik_routeros":
            local = normalize_port(_first(row, "interface"))
        if not local or not (name or chassis):
            continue
        mgmt = clean_ip(_first(row, "mgmt_address", "management_ip", "mgmt_ip", "address"))
        out.append(Neighbor(
            protocol=kind, local_port=local, name=name, port=port, chassis=chassis,
            mgmt_ip=mgmt, platform=clean_text(_first(row, "platform", "neighbor_description",
                                                       "system_description", "board")),
            capabilities=clean_text(_first(row, "capabilities", "system_capabilities"), 40),
        ))  # fmt: skip
    return out


def parse_macs(platform: str, output: str) -> list[MacEntry]:
    """The forwarding table: which MAC was learnt on which port in which VLAN."""
    if platform == "linux":
        return parse_bridge_fdb(output)
    command = COMMANDS.get(platform, {}).get("mac")
    if not command:
        return []
    out = []
    for row in _template_rows(platform, command, output):
        mac = normalize_mac(_first(row, "destination_address", "mac_address", "mac"))
        port = normalize_port(
            _first(row, "destination_port", "ports", "port", "interface", "on_interface")
        )
        vlan = _first(row, "vlan_id", "vlan")
        if mac and port:
            out.append(MacEntry(mac, int(vlan) if vlan.isdigit() else None, port))
    return out


def parse_arp(platform: str, output: str) -> list[ArpEntry]:
    if platform == "linux":
        return parse_ip_neigh(output)
    command = COMMANDS.get(platform, {}).get("arp")
    if not command:
        return []
    out = []
    for row in _template_rows(platform, command, output):
        ip = clean_ip(_first(row, "ip_address", "address"))
        mac = normalize_mac(_first(row, "mac_address", "mac"))
        if ip and mac:
            interface = _first(row, "interface").split(",")[0]
            out.append(ArpEntry(ip, mac, normalize_port(interface)))
    return out


_NEIGH = re.compile(r"^(\S+)\s+dev\s+(\S+)\s+lladdr\s+(\S+)(?:\s|$)")
_FDB = re.compile(r"^(\S+)\s+dev\s+(\S+)(.*)$")


def parse_ip_neigh(output: str) -> list[ArpEntry]:
    """``ip neigh show``: '198.18.0.1 dev eth0 lladdr 00:11:22:33:44:55 REACHABLE'. Entries
    without a link-layer address (INCOMPLETE, FAILED) say nothing about where a host is."""
    out = []
    for line in output.splitlines():
        match = _NEIGH.match(line.strip())
        if match:
            ip, dev, mac = clean_ip(match[1]), normalize_port(match[2]), normalize_mac(match[3])
            if ip and mac:
                out.append(ArpEntry(ip, mac, dev))
    return out


def parse_bridge_fdb(output: str) -> list[MacEntry]:
    """``bridge fdb show``: 'MAC dev PORT [vlan N] [master BR] [permanent|self]'. The bridge's
    own addresses (permanent) and device-level entries (self) are not learnt hosts."""
    out = []
    for line in output.splitlines():
        match = _FDB.match(line.strip())
        if not match:
            continue
        mac, port, rest = normalize_mac(match[1]), normalize_port(match[2]), match[3].split()
        if not mac or not port or "permanent" in rest or "self" in rest:
            continue
        if int(mac[:2], 16) & 1:
            continue  # multicast/broadcast entries
        vlan = rest[rest.index("vlan") + 1] if "vlan" in rest[:-1] else ""
        out.append(MacEntry(mac, int(vlan) if vlan.isdigit() else None, port))
    return out
