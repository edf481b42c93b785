"""SNMP v2c GET of sysDescr, sysObjectID and sysName with the operator's communities.

scapy's SNMP layer (already a dependency) encodes and decodes; one UDP socket asks every
host at once. Communities are secrets-ish: the result says only that SNMP answered, never
which string worked.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence

from agent.core.scope import ScopeGuard
from agent.core.secret import Secret

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
FIELDS = {SYS_DESCR: "sys_descr", SYS_OBJECT_ID: "sys_object_id", SYS_NAME: "sys_name"}
TIMEOUT = 0.6  # a LAN agent answers in milliseconds; the retry covers a lost datagram
SEND_INTERVAL = 0.0005  # 2000 requests/s: a burst to hundreds of hosts must not drop


def query(
    ips: Sequence[str],
    communities: Sequence[str | Secret],
    guard: ScopeGuard,
    *,
    port: int = 161,
    timeout: float = TIMEOUT,
    retries: int = 1,
) -> dict[str, dict[str, str | None]]:
    """ip -> {sys_descr, sys_object_id, sys_name} for every host that answered a community."""
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPget, SNMPvarbind

    if not ips or not communities:
        return {}
    for ip in ips:
        guard.check(ip)
    varbinds = [SNMPvarbind(oid=ASN1_OID(oid)) for oid in FIELDS]
    secrets = [c.reveal() if isinstance(c, Secret) else c for c in communities]
    answers: dict[str, dict[str, str | None]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _attempt in range(retries + 1):
            waiting = [ip for ip in ips if ip not in answers]
            if not waiting:
                break
            for host_index, ip in enumerate(ips):
                if ip in answers:
                    continue
                for community_index, community in enumerate(secrets):
                    request = SNMP(
                        version=1,  # v2c
                        community=community,
                        PDU=SNMPget(id=host_index * 64 + community_index, varbindlist=varbinds),
                    )
                    try:
                        sock.sendto(bytes(request), (ip, port))
                    except OSError:
                        continue  # no route / neighbour unreachable: the host just does not answer
                    time.sleep(SEND_INTERVAL)
            _collect(sock, ips, answers, timeout)
    return answers


def _collect(
    sock: socket.socket, ips: Sequence[str], answers: dict[str, dict], timeout: float
) -> None:
    from scapy.layers.snmp import SNMP

    deadline = time.monotonic() + timeout
    while len(answers) < len(ips):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return
        try:
            data, (sender, _port) = sock.recvfrom(65535)
        except OSError:
            continue
        try:
            reply = SNMP(data)
            pdu = reply.PDU
            host_index = int(pdu.id.val) // 64
        except Exception:  # noqa: S112 - anything on the port that is not SNMP is ignored
            continue
        if host_index >= len(ips) or ips[host_index] != sender or int(pdu.error.val) != 0:
            continue
        values: dict[str, str | None] = dict.fromkeys(FIELDS.values())
        for varbind in pdu.varbindlist:
            name = FIELDS.get(varbind.oid.val)
            value = getattr(varbind.value, "val", None)
            if name and value is not None and not isinstance(value, int | type(None)):
                values[name] = (
                    value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                )
        answers.setdefault(sender, values)
