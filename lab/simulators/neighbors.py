"""`show cdp neighbors detail`, `show lldp neighbors detail`, `show mac address-table` and
`show ip arp` for the Cisco-family simulators, in each platform's own layout (the layouts of
the real outputs ntc-templates records), from the device's ``wiring.json``.

``wiring.json`` (state directory, re-read at every command so a test can re-cable a host
while the device runs) holds what ``lab.wiring.switch_views`` computed for this switch. A
device without one has no neighbours and empty tables.
"""

from __future__ import annotations

import json
from pathlib import Path

WIRING_FILE = "wiring.json"


def load_view(state_dir: Path) -> dict:
    try:
        return json.loads((Path(state_dir) / WIRING_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"neighbors": [], "macs": [], "arp": []}


def write_view(state_dir: Path, view: dict) -> None:
    import os

    path = Path(state_dir) / WIRING_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(view, indent=1, sort_keys=True))
    os.replace(tmp, path)


def dotted(mac: str) -> str:
    """00:11:22:33:44:55 -> 0011.2233.4455 (how Cisco and Arista print MACs)."""
    digits = mac.replace(":", "").lower()
    return f"{digits[0:4]}.{digits[4:8]}.{digits[8:12]}"


def short(port: str) -> str:
    for full, abbrev in (("GigabitEthernet", "Gi"), ("Ethernet", "Eth")):
        if port.startswith(full):
            return abbrev + port[len(full) :]
    return port


def cdp_detail(platform: str, view: dict) -> str:
    blocks = []
    for nb in (n for n in view["neighbors"] if n.get("cdp")):
        if platform == "cisco_nxos":
            blocks.append(
                "----------------------------------------\n"
                f"Device ID:{nb['name']}\nSystem Name: {nb['name']}\n\n"
                f"Interface address(es):\n    IPv4 Address: {nb['mgmt_ip']}\n"
                "Platform: N9K-C93180YC-EX, Capabilities: Router Switch IGMP Filtering\n"
                f"Interface: {nb['local_port']}, Port ID (outgoing port): {nb['port']}\n"
                f"Holdtime: 157 sec\n\nVersion:\n{nb['platform']}\n\n"
                "Advertisement Version: 2\n\nNative VLAN: 1\nDuplex: full\n"
                f"Mgmt address(es):\n    IPv4 Address: {nb['mgmt_ip']}\n"
            )
        else:
            blocks.append(
                "-------------------------\n"
                f"Device ID: {nb['name']}\nEntry address(es):\n  IP address: {nb['mgmt_ip']}\n"
                "Platform: cisco WS-C2960X-48FPD-L,  Capabilities: Switch IGMP\n"
                f"Interface: {nb['local_port']},  Port ID (outgoing port): {nb['port']}\n"
                f"Holdtime : 164 sec\n\nVersion :\n{nb['platform']}\n\n"
                "advertisement version: 2\nVTP Management Domain: ''\nNative VLAN: 1\n"
                f"Duplex: full\nManagement address(es):\n  IP address: {nb['mgmt_ip']}\n"
            )
    return "\n".join(blocks)


def lldp_detail(platform: str, view: dict) -> str:
    neighbors = view["neighbors"]
    if platform == "arista_eos":
        return "\n".join(
            f"Interface {nb['local_port']} detected 1 LLDP neighbors:\n\n"
            f'  Neighbor {dotted(nb["chassis"])}/"{nb["port"]}", age 12 seconds\n'
            "  Discovered 0:01:11 ago; Last changed 0:01:11 ago\n"
            "  - Chassis ID type: MAC address (4)\n"
            f"    Chassis ID     : {dotted(nb['chassis'])}\n"
            "  - Port ID type: Interface name (5)\n"
            f'    Port ID     : "{nb["port"]}"\n'
            "  - Time To Live: 120 seconds\n"
            f'  - System Name: "{nb["name"]}"\n'
            f'  - System Description: "{nb["platform"]}"\n'
            f"  - System Capabilities : {_caps_words(nb)}\n"
            f"    Enabled Capabilities: {_caps_words(nb)}\n"
            "  - Management Address Subtype: IPv4 (1)\n"
            f"    Management Address        : {nb['mgmt_ip']}\n"
            "    Interface Number Subtype  : ifIndex (2)\n"
            "    Interface Number          : 999001\n"
            "    OID String                : \n"
            "  - IEEE802.1 Port VLAN ID: 1\n"
            "  - IEEE802.3 Maximum Frame Size: 9236 bytes\n"
            for nb in neighbors
        )
    if platform == "cisco_nxos":
        head = (
            "Capability codes:\n  (R) Router, (B) Bridge, (T) Telephone, (C) DOCSIS Cable "
            "Device\n  (W) WLAN Access Point, (P) Repeater, (S) Station, (O) Other\n"
            "Device ID            Local Intf      Hold-time  Capability  Port ID  \n\n"
        )
        return (
            head
            + "\n".join(
                f"Chassis id: {dotted(nb['chassis'])}\nPort id: {nb['port']}\n"
                f"Local Port id: {short(nb['local_port'])}\nPort Description: {nb['port']}\n"
                f"System Name: {nb['name']}\nSystem Description: {nb['platform']}\n"
                "Time remaining: 91 seconds\n"
                f"System Capabilities: {nb['capabilities'].replace(',', ', ')}\n"
                f"Enabled Capabilities: {nb['capabilities'].replace(',', ', ')}\n"
                f"Management Address: {nb['mgmt_ip']}\nVlan ID: 1\n\n"
                for nb in neighbors
            )
            + f"\nTotal entries displayed: {len(neighbors)}"
        )
    body = "".join(
        "------------------------------------------------\n"
        f"Local Intf: {short(nb['local_port'])}\nChassis id: {dotted(nb['chassis'])}\n"
        f"Port id: {nb['port']}\nPort Description: {nb['port']}\n"
        f"System Name: {nb['name']}\n\nSystem Description: \n{nb['platform']}\n\n"
        "Time remaining: 116 seconds\n"
        f"System Capabilities: {nb['capabilities']}\n"
        f"Enabled Capabilities: {nb['capabilities']}\n"
        f"Management Addresses:\n    IP: {nb['mgmt_ip']}\n"
        "Auto Negotiation - supported, enabled\n\n"
        for nb in neighbors
    )
    return body + f"\nTotal entries displayed: {len(neighbors)}"


def _caps_words(nb: dict) -> str:
    words = {"B": "Bridge", "R": "Router"}
    return ", ".join(words[c] for c in nb["capabilities"].split(",") if c in words)


def mac_table(platform: str, view: dict) -> str:
    rows = sorted(view["macs"], key=lambda m: (m["vlan"], m["mac"]))
    if platform == "cisco_nxos":
        head = (
            "Legend:\n        * - primary entry, G - Gateway MAC, (R) - Routed MAC, "
            "O - Overlay MAC\n        age - seconds since last seen,+ - primary entry "
            "using vPC Peer-Link,\n        (T) - True, (F) - False\n"
            "     VLAN       MAC Address       Type     age    Secure  NTFY     Ports\n"
            "------------+-----------------+----------+-------+------+------+----------"
            "--------\n"
        )
        return head + "".join(
            f"*{m['vlan']:>8}     {dotted(m['mac'])}   dynamic   0         F      F    "
            f"{short(m['port'])}\n"
            for m in rows
        )
    if platform == "arista_eos":
        head = (
            "          Mac Address Table\n" + "-" * 66 + "\n\n"
            "Vlan    Mac Address       Type        Ports      Moves   Last Move\n"
            "----    -----------       ----        -----      -----   ---------\n"
        )
        return (
            head
            + "".join(
                f"{m['vlan']:>4}    {dotted(m['mac'])}    DYNAMIC     "
                f"{m['port'].replace('Ethernet', 'Et'):<10} 1       0:05:05 ago\n"
                for m in rows
            )
            + f"Total Mac Addresses for this criterion: {len(rows)}"
        )
    head = (
        "          Mac Address Table\n-------------------------------------------\n\n"
        "Vlan    Mac Address       Type        Ports\n"
        "----    -----------       --------    -----\n"
    )
    return (
        head
        + "".join(
            f"{m['vlan']:>4}    {dotted(m['mac'])}    DYNAMIC     {short(m['port'])}\n"
            for m in rows
        )
        + f"Total Mac Addresses for this criterion: {len(rows)}"
    )


def ip_arp(platform: str, view: dict) -> str:
    rows = view["arp"]
    if platform == "cisco_nxos":
        return (
            "\nFlags: * - Adjacencies learnt on non-active FHRP router\n"
            "       + - Adjacencies synced via CFSoE\n\nIP ARP Table for all contexts\n"
            f"Total number of entries: {len(rows)}\n"
            "Address         Age       MAC Address     Interface\n"
            + "".join(
                f"{a['ip']:<15} 00:00:57  {dotted(a['mac'])}  Vlan{a['vlan']}\n" for a in rows
            )
        )
    if platform == "arista_eos":
        return "Address         Age (min)  Hardware Addr   Interface\n" + "".join(
            f"{a['ip']:<15}         0  {dotted(a['mac'])}  Vlan{a['vlan']}, not learned\n"
            for a in rows
        )
    return "Protocol  Address          Age (min)  Hardware Addr   Type   Interface\n" + "".join(
        f"Internet  {a['ip']:<16} 0          {dotted(a['mac'])}  ARPA   Vlan{a['vlan']}\n"
        for a in rows
    )
