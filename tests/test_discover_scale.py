"""Pure logic of discovery at scale (issue 18): the nmap plan's arguments, packet counts,
the probe waits, the batched store, the classification cache, the host document, skipping
interrupted runs in diffs, and the non-interactive progress lines. No network."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from agent.commands import discover as command
from agent.discovery import classify, enrich, nmapscan
from inventory import checklist
from inventory import hosts as inventory_hosts
from inventory.model import Host, Port
from inventory.store import Store


def test_port_scan_is_one_paced_pass_and_udp_gets_a_share_of_the_rate():
    args = enrich.discovery_args("top100", 5000, 1024)
    assert "--min-rate 5000 --max-rate 5000" in args and "--max-retries 1" in args
    assert "--min-hostgroup 1024" in args and "--top-ports 100" in args and "-Pn" in args
    assert "--min-rate 20000" in enrich.discovery_args("22,80", None, 1024)
    assert "--min-rate 500 --max-rate 500" in enrich.udp_args(5000)
    assert "--min-rate 100 " in enrich.udp_args(300) + " "


def test_packet_counts_come_from_nmaps_verbose_output():
    run = nmapscan.NmapRun(
        {}, "Nmap done\n   Raw packets sent: 810948 (35.68MB) | Rcvd: 34465 (1.4MB)"
    )
    assert (run.packets_sent, run.packets_received) == (810948, 34465)
    assert nmapscan.NmapRun({}).packets_sent == 0


def test_banner_probe_waits_longer_than_the_others():
    path = nmapscan.quick_probe_file()
    if path is None:
        pytest.fail("nmap-service-probes not installed (apt-get install nmap)")
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    assert re.search(r"^Probe TCP NULL q\|\|\ntotalwaitms 1000$", text, re.MULTILINE)
    waits = re.findall(r"^totalwaitms (\d+)$", text, re.MULTILINE)
    assert waits.count("1000") == 1 and set(waits) == {"1000", str(nmapscan.PROBE_WAIT_MS)}


def _host(ip: str, mac: str | None, *ports: int) -> Host:
    return Host(ip=ip, mac=mac, sources=["arp"], ports=[Port(p, "tcp", "open") for p in ports])


def test_batched_save_keys_hosts_by_mac_then_by_address():
    with Store(":memory:") as store:
        first = store.begin_run("discover", "t")
        inventory_hosts.save(store, first, {"hosts": []}, [
            _host("10.0.0.1", "00:00:0c:00:00:01", 22), _host("10.0.0.2", None, 80),
        ])  # fmt: skip
        second = store.begin_run("discover", "t")
        inventory_hosts.save(store, second, {"hosts": []}, [
            _host("10.0.0.9", "00:00:0c:00:00:01"),  # the same device, a new address
            _host("10.0.0.2", None),  # MAC-less: the same address is the same row
            _host("10.0.0.3", "00:00:0c:00:00:03"),
            _host("10.0.0.4", "00:00:0c:00:00:03"),  # one MAC, two addresses: one row
        ])  # fmt: skip
        rows = {r["id"]: dict(r) for r in store.db.execute("SELECT * FROM hosts")}
        assert len(rows) == 3
        by_mac = {r["mac"]: r for r in rows.values()}
        assert by_mac["00:00:0c:00:00:01"]["ip"] == "10.0.0.9"
        assert by_mac["00:00:0c:00:00:01"]["first_run"] == first
        assert by_mac["00:00:0c:00:00:03"]["ip"] == "10.0.0.4"  # the last one seen
        assert by_mac[None]["ip"] == "10.0.0.2" and by_mac[None]["last_run"] == second
        services = store.db.execute("SELECT COUNT(*) FROM services").fetchone()[0]
        observations = store.db.execute(
            "SELECT COUNT(*) FROM host_observations WHERE run_id = ?", (second,)
        ).fetchone()[0]
        assert (services, observations) == (2, 3)


def test_cached_classification_decides_as_the_rule_table_does():
    hosts = [
        Host(ip="10.0.0.1", mac="00:00:0c:00:00:01", vendor="Cisco Systems, Inc"),
        Host(ip="10.0.0.2", vendor="Cisco Systems, Inc"),  # the same facts: a cache hit
        Host(ip="10.0.0.3", vendor="HP", ports=[Port(9100, "tcp", "open", "jetdirect")]),
    ]
    for host in hosts:
        assert classify.classify(host) == classify.classify(host, classify.default_rules())


def test_host_document_is_what_asdict_gives():
    host = _host("10.0.0.1", "00:00:0c:00:00:01", 443, 22)
    host.os = {"name": "Linux", "accuracy": 90}
    host.snmp = {"sys_descr": "x", "sys_name": None}
    expected = asdict(host)
    expected["ports"] = sorted(expected["ports"], key=lambda p: (p["proto"], p["port"]))
    data = host.to_json()
    assert data == expected and list(data) == list(expected)
    data["os"]["name"] = "changed"
    data["ports"][0]["port"] = 1
    assert host.os["name"] == "Linux" and host.ports[0].port == 443  # copies, as asdict's


def test_diffs_skip_interrupted_runs():
    with Store(":memory:") as store:
        for interrupted in (None, {"reason": "SIGTERM", "stage": "enrichment", "enriched": []}):
            run = store.begin_run("discover", "t")
            document = {"run_id": run, "scope": ["10.0.0.0/24"], "hosts": []}
            if interrupted:
                document["interrupted"] = interrupted
            inventory_hosts.save(store, run, document, [])
            store.finish_run(run, "partial" if interrupted else "ok")
        assert inventory_hosts.previous_document(store)["run_id"] == 1
        assert inventory_hosts.latest_document(store)["run_id"] == 2


def test_checkpoints_are_replaced_by_the_final_save_and_unread_while_unfinished():
    web = Host(ip="10.0.0.5", mac="02:00:00:00:00:05", ports=[Port(22, "tcp", "open"),
               Port(80, "tcp", "open")], device_class="server")  # fmt: skip
    with Store(":memory:") as store:
        run = store.begin_run("discover", "t")
        where = {"run_id": run, "scope": ["10.0.0.0/24"], "exclude": [], "ports": "top100"}
        done = {"reason": "ended", "stage": "enrichment", "enriched": ["10.0.0.5"]}
        inventory_hosts.save_progress(store, run, [web], {**where, "interrupted": done})
        rows = store.db.execute("SELECT port FROM services WHERE run_id = ?", (run,))
        assert sorted(r[0] for r in rows) == [22, 80]  # the inventory grows during the scan
        # Unfinished: no reader takes it; the next discovery may resume from it.
        assert inventory_hosts.latest_document(store) is None
        assert checklist.newest_run_with(store, "host_observations", [run]) is None
        assert checklist._latest_class(store.db, "10.0.0.5") is None
        store.finish_run(run, "incomplete")
        attempt = inventory_hosts.latest_attempt(store)
        assert attempt["checkpoint"] and attempt["interrupted"]["enriched"] == ["10.0.0.5"]

        run = store.begin_run("discover", "t")
        inventory_hosts.save_progress(store, run, [web], {**where, "interrupted": done})
        web.ports = [Port(22, "tcp", "open")]
        inventory_hosts.save(store, run, {**where, "hosts": [web.to_json()]}, [web])
        store.finish_run(run, "ok")
        rows = store.db.execute("SELECT port FROM services WHERE run_id = ?", (run,))
        assert [r[0] for r in rows] == [22]  # the port gone since the checkpoint is gone
        assert inventory_hosts.latest_attempt(store).get("checkpoint") is None
        assert checklist._latest_class(store.db, "10.0.0.5") == "server"


def test_progress_lines_start_estimate_and_finish(monkeypatch, capsys):
    clock = iter([0.0, 20.0, 20.5, 40.0, 41.0])
    monkeypatch.setattr(command.time, "monotonic", lambda: next(clock))
    log = command._ProgressLog()
    log.update("nmap ports", 0, 4000, 0)
    log.update("nmap ports", 1000, 4000, 900)  # 20 s for a quarter: about 60 s left
    log.update("nmap ports", 1100, 4000, 950)  # within the interval: no line
    log.update("nmap ports", 4000, 4000, 3900)
    log.update("nmap ports", 4000, 4000, 3900)  # a stage is done once
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "discover: nmap ports started: 4000 to do",
        "discover: nmap ports 1000/4000 (25%), found 900, about 60 s left",
        "discover: nmap ports done: 4000/4000 in 40.0 s, found 3900",
    ]


def test_a_port_the_service_scan_missed_stays_open():
    """Under load -sV's own SYN scan may see an open port as filtered: the port scan's
    state stands, and -sV's names are taken where it saw the port open too."""
    scanned = _host("10.0.0.1", "00:00:0c:00:00:01", 22, 80)

    class Done:
        def __init__(self, value) -> None:
            self.value = value

        def result(self):
            return self.value

    run = nmapscan.NmapRun({})
    result = enrich.Enrichment()
    raw = {"scan": {"10.0.0.1": {"status": {"state": "up"}, "tcp": {
        22: {"state": "open", "name": "ssh", "product": "OpenSSH", "version": "9.2p1"},
        80: {"state": "filtered", "name": "http"},
    }}}}  # fmt: skip
    assert [p.state for p in nmapscan.hosts_from_nmap(raw)[0].ports] == ["open", "filtered"]
    services = Done(enrich.Timed(nmapscan.NmapRun(raw), (0.0, 1.0), 1))
    systems = Done(enrich.Timed(run, (0.0, 1.0), 1))
    enrich._finish(result, [scanned], {scanned.ip: services}, {scanned.ip: systems}, None)
    ports = {p.port: p for p in result.hosts["10.0.0.1"].ports}
    assert ports[22].product == "OpenSSH" and ports[80].state == "open"


def test_a_streamed_scan_yields_each_host_group_while_nmap_still_runs():
    """One nmap over many hosts, read as it goes: each group's hosts arrive as nmap finishes
    the group, every host once, and the run's packet counts come at the end (loopback only:
    four 127.0.0.x addresses, a group each, slowed so the groups are seconds apart)."""
    import time

    from agent.core.scope import ScopeGuard

    targets = [f"127.0.0.{n}" for n in range(1, 5)]
    scan = nmapscan.StreamedScan(
        targets,
        "-n -Pn -sS -p 1-6 --max-retries 0 --max-hostgroup 1 --scan-delay 100ms",
        ScopeGuard(["127.0.0.0/29"]),
    )
    began = time.monotonic()
    arrivals = [(time.monotonic() - began, sorted(part.hosts)) for part in scan]
    finished = time.monotonic() - began
    seen = [ip for _at, hosts in arrivals for ip in hosts]
    assert sorted(seen) == targets, arrivals  # every host, once
    assert len(arrivals) >= 2, arrivals
    assert arrivals[0][0] < finished - 0.5, (arrivals, finished)  # not all at the end
    assert scan.run.packets_sent >= 4 * 6, scan.run.packets_sent


def test_a_streamed_scan_that_nmap_refuses_fails_in_one_line():
    from agent.core.errors import OperationFailed
    from agent.core.scope import ScopeGuard

    scan = nmapscan.StreamedScan(["127.0.0.1"], "-n -Pn -sS -p 99999", ScopeGuard(["127.0.0.1"]))
    with pytest.raises(OperationFailed, match="nmap failed") as failure:
        list(scan)
    assert "between 0 and 65535" in str(failure.value)
    assert "\n" not in str(failure.value)


def test_a_service_run_shared_by_several_os_groups_is_counted_once():
    """One -sV run covers up to SERVICE_GROUP hosts, -O runs OS_GROUP at a time: the run
    document's stats count each nmap run once, however many OS groups it served."""
    from concurrent.futures import Future

    def done(timed: enrich.Timed) -> Future:
        future: Future = Future()
        future.set_result(timed)
        return future

    def up(ip: str) -> dict:
        return {"status": {"state": "up"}, "tcp": {22: {"state": "open", "name": "ssh"}}}

    ips = ["10.0.0.1", "10.0.0.2"]
    services = done(
        enrich.Timed(nmapscan.NmapRun({"scan": {ip: up(ip) for ip in ips}}), (0.0, 2.0), 2)
    )
    result = enrich.Enrichment()
    for ip in ips:
        scanned = Host(ip=ip, ports=[Port(port=22, proto="tcp", state="open")])
        systems = done(enrich.Timed(nmapscan.NmapRun({}), (0.0, 1.0), 1))
        enrich._finish(result, [scanned], {scanned.ip: services}, {scanned.ip: systems}, None)
    assert sorted(result.hosts) == ips
    assert result.stats["services"].runs == 1 and result.stats["services"].hosts == 2
    assert result.stats["os"].runs == 2


def test_os_detection_starts_at_a_hosts_first_open_port_and_services_at_its_group_end():
    """-O scans the ports itself: OS_GROUP hosts with an open port seen start an OS run
    before their host group's port scan is done; -sV waits for the group (it probes only
    the ports that answered); a host is delivered once both its runs are done. The pool
    here records what would run (pure planning logic; no nmap)."""
    from concurrent.futures import Future

    from agent.core.scope import ScopeGuard

    started: list[tuple[list[str], str]] = []

    class Recorder:
        def submit(self, _fn, targets, args, _guard) -> Future:
            started.append((list(targets), args))
            future: Future = Future()
            future.set_result(enrich.Timed(nmapscan.NmapRun({}), (0.0, 1.0), len(targets)))
            return future

    ips = [f"198.18.0.{n}" for n in range(1, enrich.OS_GROUP + 2)]
    delivered: list[str] = []
    details = enrich._Details(
        enrich.Enrichment(), Recorder(), "top100", 1000, ScopeGuard(["198.18.0.0/24"]),
        set(ips), frozenset(), lambda hosts: delivered.extend(h.ip for h in hosts),
    )  # fmt: skip
    details.port_opened([(ip, 22) for ip in ips[: enrich.OS_GROUP]])
    assert [(t, "-O" in a) for t, a in started] == [(ips[: enrich.OS_GROUP], True)]
    details.port_opened([(ips[-1], 80)])  # one more: not a group yet
    assert len(started) == 1 and not delivered

    found = [Host(ip=ip, ports=[Port(port=22, proto="tcp", state="open")]) for ip in ips]
    found.append(Host(ip="198.18.0.200", ports=[Port(port=22, proto="tcp", state="filtered")]))
    details.ports_known(found)
    os_runs = [t for t, a in started if "-O" in a]
    service_runs = [(t, a) for t, a in started if "-sV" in a]
    assert os_runs == [ips[: enrich.OS_GROUP], [ips[-1]]]  # the rest once the group is done
    assert [t for t, _a in service_runs] == [ips] and "-p 22 " in service_runs[0][1] + " "
    assert sorted(delivered) == sorted([*ips, "198.18.0.200"])


def test_the_batch_sender_resends_what_a_full_socket_did_not_take():
    """At "max" (and after a stall at a rate) a batch is up to 1,024 requests; when the
    socket's buffer or the qdisc is full the kernel takes part of it, or none (EAGAIN), and
    the rest must be sent once, in order, never lost or doubled. A non-blocking datagram
    socket with a small send buffer, drained slowly by a reader, makes both happen."""
    import socket
    import threading

    from agent.discovery import arp

    template = bytes(range(42))
    sender_side, reader_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sender_side.setblocking(False)
    received: list[bytes] = []
    targets = list(range(0x0A000000, 0x0A000000 + 3 * arp.BATCH))

    def drain() -> None:
        reader_side.settimeout(5)  # a lost frame ends the test instead of hanging it
        while len(received) < len(targets):
            try:
                received.append(reader_side.recv(64))
            except TimeoutError:
                return
            if len(received) % 64 == 0:
                time.sleep(0.002)  # slower than the sender: its buffer fills

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    sender = arp._BatchSender(sender_side, template)
    sent_at: dict[int, float] = {}
    for start in range(0, len(targets), arp.BATCH):
        sender.send(targets[start : start + arp.BATCH], sent_at)
    reader.join(timeout=60)
    sender_side.close()
    reader_side.close()
    assert [int.from_bytes(frame[arp.TPA_OFFSET :], "big") for frame in received] == targets
    assert all(frame[: arp.TPA_OFFSET] == template[: arp.TPA_OFFSET] for frame in received)
    assert set(sent_at) == set(targets)
