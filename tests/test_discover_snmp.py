"""The SNMP reader against a real net-snmp agent on loopback: the system group with the
operator's communities, then the standard objects classification weighs."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.discovery import classify, snmp
from agent.discovery.model import Host

SNMPD = "/usr/sbin/snmpd"
COMMUNITY = "ro-test-community"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("snmpd")
    port = _free_udp_port()
    conf = folder / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1\n"
        "sysDescr Linux probe 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC x86_64\n"
        "sysObjectID .1.3.6.1.4.1.8072.3.2.10\nsysServices 72\n"
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(folder), "MIBS": "", "MIBDIRS": "/nonexistent"}
    log = (folder / "log").open("w")
    proc = subprocess.Popen(
        [SNMPD, "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    guard = ScopeGuard(["127.0.0.1/32"], [])
    try:
        deadline = time.monotonic() + 10
        while not snmp.query(["127.0.0.1"], [COMMUNITY], guard, port=port, timeout=0.2):
            assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_system_group_and_standard_objects(agent: int):
    guard = ScopeGuard(["127.0.0.0/30"], [])
    found = snmp.query(["127.0.0.1", "127.0.0.2"], ["not-it", Secret(COMMUNITY)], guard, port=agent)
    assert list(found) == ["127.0.0.1"]  # nothing listens on .2
    values = found["127.0.0.1"]
    assert values["sys_descr"].startswith("Linux probe")
    assert values["sys_object_id"] == "1.3.6.1.4.1.8072.3.2.10"
    assert values["sys_services"] == "72"
    assert values["ip_forwarding"] in ("1", "2")
    assert int(values["hr_system_uptime"]) >= 0  # net-snmp serves HOST-RESOURCES-MIB
    # Objects this agent does not have are answered, and recorded as None (not absent).
    assert values["bridge_ports"] is None and values["ent_model"] is None
    assert set(values) == {*snmp.FIELDS.values(), *snmp.EXTRA_FIELDS}
    assert COMMUNITY not in repr(found)
    result = classify.classify(Host(ip="127.0.0.1", snmp=values))
    assert (result.device_class, result.platform) == ("server", "linux")
    assert "host_resources" in result.evidence and result.oid_vendor == "net-snmp"


def test_wrong_community_reads_nothing(agent: int):
    guard = ScopeGuard(["127.0.0.1/32"], [])
    assert snmp.query(["127.0.0.1"], ["not-it"], guard, port=agent, timeout=0.2) == {}


def test_an_agent_that_errors_the_whole_extra_request_keeps_its_system_group():
    """An old agent answers a GET naming one object it lacks with noSuchName for the whole
    PDU (SNMPv1 style): the system group, asked on its own, must survive that."""
    import threading

    from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING
    from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(65535)
            except OSError:
                return
            request = SNMP(data)
            asked = [str(v.oid.val) for v in request.PDU.varbindlist]
            if set(asked) <= set(snmp.FIELDS):  # anything else in the PDU: an error for all
                values = {snmp.SYS_DESCR: "Old agent", snmp.SYS_OBJECT_ID: None,
                          snmp.SYS_NAME: "old"}  # fmt: skip
                varbinds = [
                    SNMPvarbind(oid=ASN1_OID(o), value=ASN1_OID("1.3.6.1.4.1.10002.1"))
                    if v is None
                    else SNMPvarbind(oid=ASN1_OID(o), value=ASN1_STRING(v))
                    for o, v in values.items()
                ]
                reply = SNMPresponse(id=request.PDU.id, varbindlist=varbinds)
            else:
                reply = SNMPresponse(id=request.PDU.id, error=2, error_index=1,
                                     varbindlist=request.PDU.varbindlist)  # fmt: skip
            server.sendto(bytes(SNMP(version=1, community=request.community, PDU=reply)), peer)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        guard = ScopeGuard(["127.0.0.1/32"], [])
        found = snmp.query(["127.0.0.1"], ["public-test"], guard, port=port, timeout=0.3)
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)
    values = found["127.0.0.1"]
    # The extras are absent, not None: unanswered is unknown, not "no bridge".
    assert values == {
        "sys_descr": "Old agent",
        "sys_object_id": "1.3.6.1.4.1.10002.1",
        "sys_name": "old",
    }
    assert classify.classify(Host(ip="127.0.0.1", snmp=values)).device_class == "other"
