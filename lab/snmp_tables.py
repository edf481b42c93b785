"""A net-snmp ``pass_persist`` helper: a simulated switch's LLDP-MIB, BRIDGE-MIB/Q-BRIDGE-MIB,
IF-MIB ifName and IP-MIB ARP rows, from the same ``wiring.json`` its SSH simulator answers
from (lab/simulators/neighbors.py), so SNMP and the CLI tell one story.

    pass_persist .1.0.8802.1.1.2 PYTHON -m lab.snmp_tables STATE_DIR .1.0.8802.1.1.2

Numbering as real switches have it, including the trap keyturn must handle: the LLDP local
port number (1, 2, ...) is not the ifIndex (10101, 10102, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab.simulators.neighbors import load_view

IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
BASE_PORT_IFINDEX = "1.3.6.1.2.1.17.1.4.1.2"
QFDB_PORT = "1.3.6.1.2.1.17.7.1.2.2.1.2"
LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.3"
LLDP_LOC_PORT_DESC = "1.0.8802.1.1.2.1.3.7.1.4"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"
LLDP_REM_MAN_ADDR = "1.0.8802.1.1.2.1.4.2.1.3"
ARP_PHYS = "1.3.6.1.2.1.4.22.1.2"
# The subtrees snmpd hands to this helper (one pass_persist line each).
SUBTREES = (IF_NAME, "1.3.6.1.2.1.17", "1.0.8802.1.1.2", "1.3.6.1.2.1.4.22")
VLAN_IFINDEX = 5000
_CAPS = {"B": 0x20, "R": 0x08}  # LLDP system capability bits (bridge, router)


def rows(view: dict) -> dict[tuple[int, ...], tuple[str, str]]:
    """OID -> (net-snmp type, value) for everything the switch's view implies."""
    ports = sorted({m["port"] for m in view["macs"]} | {n["local_port"] for n in view["neighbors"]})
    number = {port: i + 1 for i, port in enumerate(ports)}  # LLDP and bridge port numbers
    out: dict[tuple[int, ...], tuple[str, str]] = {}

    def put(base: str, index: tuple[int, ...], kind: str, value: str) -> None:
        out[tuple(int(x) for x in base.split(".")) + index] = (kind, value)

    for port, n in number.items():
        if_index = 10100 + n
        put(IF_NAME, (if_index,), "string", port)
        put(BASE_PORT_IFINDEX, (n,), "integer", str(if_index))
        put(LLDP_LOC_PORT_ID, (n,), "string", port)
        put(LLDP_LOC_PORT_DESC, (n,), "string", port)
    vlans = sorted({m["vlan"] for m in view["macs"]} | {a["vlan"] for a in view["arp"]})
    for vlan in vlans:
        put(IF_NAME, (VLAN_IFINDEX + vlan,), "string", f"Vlan{vlan}")
    for m in view["macs"]:
        octets = tuple(int(b, 16) for b in m["mac"].split(":"))
        put(QFDB_PORT, (m["vlan"], *octets), "integer", str(number[m["port"]]))
    for nb in view["neighbors"]:
        n = number[nb["local_port"]]
        chassis = " ".join(nb["chassis"].split(":"))
        caps = sum(_CAPS.get(c, 0) for c in nb["capabilities"].split(","))
        for column, kind, value in (
            (4, "integer", "4"),
            (5, "octet", chassis),
            (6, "integer", "5"),
            (7, "string", nb["port"]),
            (8, "string", nb["port"]),
            (9, "string", nb["name"]),
            (10, "string", nb["platform"]),
            (12, "octet", f"{caps:02x}"),
        ):
            put(LLDP_REM, (column, 0, n, 1), kind, value)
        if nb["mgmt_ip"]:
            address = tuple(int(x) for x in nb["mgmt_ip"].split("."))
            put(LLDP_REM_MAN_ADDR, (0, n, 1, 1, 4, *address), "integer", "2")
    for a in view["arp"]:
        if a["ip"]:
            put(
                ARP_PHYS,
                (VLAN_IFINDEX + a["vlan"], *(int(x) for x in a["ip"].split("."))),
                "octet",
                " ".join(a["mac"].split(":")),
            )
    return out


def serve(state_dir: Path, base: str) -> None:
    """The pass_persist protocol on stdin/stdout; the view is re-read for every request."""
    prefix = tuple(int(x) for x in base.strip(".").split("."))
    while True:
        command = sys.stdin.readline()
        if not command:
            return
        command = command.strip()
        if command == "PING":
            _reply("PONG")
            continue
        oid = tuple(int(x) for x in sys.stdin.readline().strip().strip(".").split(".") if x)
        if command == "set":
            sys.stdin.readline()
            _reply("not-writable")
            continue
        table = {k: v for k, v in rows(load_view(state_dir)).items() if k[: len(prefix)] == prefix}
        if command == "get":
            found = oid if oid in table else None
        else:
            found = next((k for k in sorted(table) if k > oid), None)
        if found is None:
            _reply("NONE")
        else:
            kind, value = table[found]
            _reply("." + ".".join(map(str, found)), kind, value)


def _reply(*lines: str) -> None:
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2])
