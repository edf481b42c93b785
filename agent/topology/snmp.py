"""Topology facts over SNMP v2c with the operator's communities: LLDP-MIB, CISCO-CDP-MIB,
BRIDGE-MIB / Q-BRIDGE-MIB forwarding tables, IF-MIB names and IP-MIB ARP.

The traps handled here:
- LLDP's local port number is not an ifIndex: it is mapped through lldpLocPortTable (the
  port's id/description) to the interface name;
- the BRIDGE-MIB forwarding table names bridge ports, mapped to ifIndex through
  dot1dBasePortIfIndex and then to names through IF-MIB;
- Cisco keeps one forwarding table per VLAN, read with the community ``community@vlan``
  (the VLANs from CISCO-VTP-MIB) when the plain community shows none;
- placing hosts only on access ports (a MAC seen on an uplink) is the model's job
  (agent.topology.build), the same for SSH and SNMP facts.

Walks are GETBULK requests on one UDP socket per device, bounded in rows and time.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from collections.abc import Callable

from agent.core.secret import Secret
from agent.topology.model import DeviceFacts
from agent.topology.parsers import (
    ArpEntry,
    MacEntry,
    Neighbor,
    clean_ip,
    clean_text,
    normalize_mac,
    normalize_port,
)  # fmt: skip

IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
BASE_PORT_IFINDEX = "1.3.6.1.2.1.17.1.4.1.2"
FDB_PORT = "1.3.6.1.2.1.17.4.3.1.2"  # dot1dTpFdbPort, index = MAC
QFDB_PORT = "1.3.6.1.2.1.17.7.1.2.2.1.2"  # dot1qTpFdbPort, index = FDB id (VLAN) . MAC
LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.3"
LLDP_LOC_PORT_DESC = "1.0.8802.1.1.2.1.3.7.1.4"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"  # lldpRemTable, index = timeMark . localPort . remIndex
LLDP_REM_MAN_ADDR = "1.0.8802.1.1.2.1.4.2.1.3"  # lldpRemManAddrIfSubtype, address in index
CDP_CACHE = "1.3.6.1.4.1.9.9.23.1.2.1.1"  # cdpCacheTable, index = ifIndex . deviceIndex
VTP_VLAN_STATE = "1.3.6.1.4.1.9.9.46.1.3.1.1.2"  # index = management domain . VLAN
ARP_PHYS = "1.3.6.1.2.1.4.22.1.2"  # ipNetToMediaPhysAddress, index = ifIndex . IPv4
SYS_NAME = "1.3.6.1.2.1.1.5"
MAX_ROWS = 20_000  # per walk: a hostile agent cannot keep keyturn walking forever
TIMEOUT = 1.0
WALK_SECONDS = 30.0

Table = dict[tuple[int, ...], object]  # index (OID suffix) -> value


class SnmpUnanswered(Exception):
    """The agent did not answer (wrong community, no agent, filtered)."""


def walk(
    ip: str, community: Secret, base: str, *, port: int = 161, timeout: float = TIMEOUT
) -> Table:
    """Every object under ``base``: index suffix -> value (bytes, int or OID text)."""
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPbulk, SNMPvarbind

    prefix = tuple(int(x) for x in base.split("."))
    rows: Table = {}
    current = base
    deadline = time.monotonic() + WALK_SECONDS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request_id = 1
        while len(rows) < MAX_ROWS and time.monotonic() < deadline:
            request = SNMP(
                version=1,
                community=community.reveal(),
                PDU=SNMPbulk(
                    id=request_id,
                    non_repeaters=0,
                    max_repetitions=25,
                    varbindlist=[SNMPvarbind(oid=ASN1_OID(current))],
                ),
            )
            pdu = _exchange(sock, ip, port, bytes(request), request_id, timeout)
            request_id += 1
            advanced = False
            for varbind in pdu.varbindlist:
                oid = tuple(int(x) for x in str(varbind.oid.val).split("."))
                if oid[: len(prefix)] != prefix or getattr(varbind, "endOfMibView", None):
                    return rows
                if oid <= tuple(int(x) for x in current.split(".")):
                    return rows  # an agent walking backwards: stop, never loop
                rows[oid[len(prefix) :]] = _value(varbind)
                current, advanced = ".".join(map(str, oid)), True
            if not advanced:
                return rows
    return rows


def _exchange(
    sock: socket.socket, ip: str, port: int, payload: bytes, request_id: int, timeout: float
):
    from scapy.layers.snmp import SNMP

    for _attempt in range(2):
        sock.sendto(payload, (ip, port))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, (sender, _port) = sock.recvfrom(65535)
            try:
                pdu = SNMP(data).PDU
                if sender != ip or int(pdu.id.val) != request_id:
                    continue
            except Exception:  # noqa: S112 - anything that is not our answer is ignored
                continue
            if int(pdu.error.val) != 0:
                raise SnmpUnanswered(f"{ip}: SNMP error {int(pdu.error.val)}")
            return pdu
    raise SnmpUnanswered(f"{ip}: no SNMP answer")


def _value(varbind) -> object:
    raw = getattr(varbind.value, "val", None)
    if isinstance(raw, bytes):
        return raw[:512]
    return raw if isinstance(raw, int) else str(raw)


def column(table: Table, col: int) -> Table:
    """The rows of one column of a table walked at its entry OID."""
    return {index[1:]: value for index, value in table.items() if index[:1] == (col,)}


def collect_snmp(
    name: str, ip: str, community: Secret, walker: Callable[[str], Table] | None = None
) -> DeviceFacts:
    """One device's facts over SNMP; ``walker(base)`` defaults to a real walk of ``ip``."""
    facts = DeviceFacts(name=name, ip=ip, platform="snmp", source="snmp")
    fetch = walker or (lambda base: walk(ip, community, base))
    try:
        sys_name = clean_text(_text(next(iter(fetch(SYS_NAME).values()), "")), 64)
    except SnmpUnanswered as exc:
        facts.errors.append(str(exc))
        return facts
    except OSError as exc:
        facts.errors.append(f"{ip}: {exc.strerror or exc}")
        return facts
    facts.name = sys_name.split(".", 1)[0] if sys_name else name
    tables: dict[str, Table] = {}
    for base in (
        IF_NAME,
        IF_DESCR,
        BASE_PORT_IFINDEX,
        QFDB_PORT,
        FDB_PORT,
        LLDP_LOC_PORT_ID,
        LLDP_LOC_PORT_DESC,
        LLDP_REM,
        LLDP_REM_MAN_ADDR,
        CDP_CACHE,
        ARP_PHYS,
    ):
        try:
            tables[base] = fetch(base)
        except SnmpUnanswered:
            tables[base] = {}  # the agent has no such table (or refuses it): not an error
        except OSError as exc:
            facts.errors.append(f"{ip}: {exc.strerror or exc}")
            return facts
    if walker is None and not tables[QFDB_PORT] and not tables[FDB_PORT]:
        tables[FDB_PORT] = _cisco_per_vlan(ip, community)
    return facts_from_tables(facts, tables)


def _cisco_per_vlan(ip: str, community: Secret) -> Table:
    """Cisco answers the plain community with VLAN 1's table at most: each VLAN's table
    needs ``community@vlan``. Rows come back indexed VLAN . MAC like Q-BRIDGE's."""
    try:
        vlans = sorted({index[-1] for index in walk(ip, community, VTP_VLAN_STATE)})
    except (SnmpUnanswered, OSError):
        return {}
    out: Table = {}
    for vlan in vlans:
        if 1002 <= vlan <= 1005:
            continue  # the FDDI/token-ring defaults
        try:
            rows = walk(ip, Secret(f"{community.reveal()}@{vlan}"), FDB_PORT)
        except (SnmpUnanswered, OSError):
            continue
        out.update({(vlan, *index): port for index, port in rows.items()})
    return out


def facts_from_tables(facts: DeviceFacts, tables: dict[str, Table]) -> DeviceFacts:
    """Pure: walked tables -> neighbours, MAC table and ARP with interface names."""
    names = {i[0]: _text(v) for i, v in tables.get(IF_DESCR, {}).items() if len(i) == 1}
    names.update({i[0]: _text(v) for i, v in tables.get(IF_NAME, {}).items() if len(i) == 1})

    def if_name(if_index: int) -> str:
        return normalize_port(names.get(if_index, "")) or f"ifIndex{if_index}"

    bridge = {
        i[0]: int(v)
        for i, v in tables.get(BASE_PORT_IFINDEX, {}).items()
        if len(i) == 1 and isinstance(v, int)
    }
    for index, port in tables.get(QFDB_PORT, {}).items():
        if len(index) == 7 and isinstance(port, int) and port in bridge:
            mac = normalize_mac(bytes(index[1:]).hex())
            if mac:
                facts.mac_table.append(MacEntry(mac, index[0], if_name(bridge[port])))
    if not facts.mac_table:
        for index, port in tables.get(FDB_PORT, {}).items():
            vlan, octets = (index[0], index[1:]) if len(index) == 7 else (None, index)
            if len(octets) == 6 and isinstance(port, int) and port in bridge:
                mac = normalize_mac(bytes(octets).hex())
                if mac:
                    facts.mac_table.append(MacEntry(mac, vlan, if_name(bridge[port])))
    facts.neighbors.extend(_lldp(tables, names))
    facts.neighbors.extend(_cdp(tables, if_name))
    for index, phys in tables.get(ARP_PHYS, {}).items():
        if len(index) == 5 and isinstance(phys, bytes) and len(phys) == 6:
            ip = clean_ip(".".join(map(str, index[1:])))
            mac = normalize_mac(phys.hex())
            if ip and mac:
                facts.arp.append(ArpEntry(ip, mac, if_name(index[0])))
    return facts


def _lldp(tables: dict[str, Table], names: dict[int, str]) -> list[Neighbor]:
    """lldpRemTable rows keyed by LLDP local port number, named through lldpLocPortTable:
    the local port number is NOT an ifIndex (it only is on some vendors, by accident)."""
    by_name = {normalize_port(n): n for n in names.values()}
    local: dict[int, str] = {}
    for base in (LLDP_LOC_PORT_DESC, LLDP_LOC_PORT_ID):  # the id wins where both name one
        for index, value in tables.get(base, {}).items():
            text = normalize_port(_text(value))
            if (
                len(index) == 1
                and text
                and (text in by_name or base == LLDP_LOC_PORT_ID or index[0] not in local)
            ):
                local[index[0]] = text
    remote: dict[tuple[int, int], dict[int, object]] = {}
    for index, value in tables.get(LLDP_REM, {}).items():
        if len(index) == 4:
            column_id, _time_mark, port_num, rem_index = index
            remote.setdefault((port_num, rem_index), {})[column_id] = value
    addresses: dict[tuple[int, int], str] = {}
    for index in tables.get(LLDP_REM_MAN_ADDR, {}):
        # timeMark . localPort . remIndex . addrSubtype(1 = IPv4) . length(4) . a.b.c.d
        if len(index) == 9 and index[3] == 1 and index[4] == 4:
            addresses.setdefault((index[1], index[2]), clean_ip(".".join(map(str, index[5:]))))
    out = []
    for (port_num, rem_index), cols in sorted(remote.items()):
        local_port = local.get(port_num, "")
        chassis = _mac_or_text(cols.get(5), cols.get(4))
        port = normalize_port(_text(cols.get(7))) if cols.get(6) in (1, 5, 7) else ""
        port = port or normalize_port(_text(cols.get(8)))
        name = clean_text(_text(cols.get(9)))
        if not local_port or not (name or chassis):
            continue
        caps = cols.get(12)
        capabilities = ",".join(
            letter
            for bit, letter in ((2, "B"), (4, "R"), (5, "T"))
            if isinstance(caps, bytes) and caps and caps[0] & (0x80 >> bit)
        )
        out.append(
            Neighbor(
                "lldp",
                local_port,
                name,
                port,
                chassis,
                addresses.get((port_num, rem_index), ""),
                clean_text(_text(cols.get(10))),
                capabilities,
            )
        )
    return out


def _cdp(tables: dict[str, Table], if_name: Callable[[int], str]) -> list[Neighbor]:
    rows: dict[tuple[int, int], dict[int, object]] = {}
    for index, value in tables.get(CDP_CACHE, {}).items():
        if len(index) == 3:
            rows.setdefault((index[1], index[2]), {})[index[0]] = value
    out = []
    for (if_index, _device), cols in sorted(rows.items()):
        address = cols.get(4)
        mgmt = (
            str(ipaddress.IPv4Address(address))
            if isinstance(address, bytes) and len(address) == 4
            else ""
        )
        name = clean_text(_text(cols.get(6)).split("(", 1)[0])
        if name:
            out.append(
                Neighbor(
                    "cdp",
                    if_name(if_index),
                    name,
                    normalize_port(_text(cols.get(7))),
                    "",
                    mgmt,
                    clean_text(_text(cols.get(8))),
                    "R"
                    if isinstance(cols.get(9), bytes) and cols[9][-1:] and cols[9][-1] & 0x01
                    else "",
                )
            )
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _mac_or_text(value: object, subtype: object) -> str:
    """A chassis id of subtype 4 (MAC) as a MAC; others only if they happen to be one."""
    if isinstance(value, bytes) and subtype == 4 and len(value) == 6:
        return normalize_mac(value.hex())
    return normalize_mac(_text(value))
