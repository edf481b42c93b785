"""keyturn discover against real namespaces this module builds: a LAN bridge with hosts that
carry vendor OUIs and serve real TCP banners, HTTP and snmpd, a Linux router to a routed
subnet, and the technician namespace keyturn runs in (as a subprocess, the operator's way).

Every address is in 198.18.0.0/15; namespaces are created and deleted by their exact names.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab import netns
from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab

LAN = "198.18.0"
ROUTED = "198.18.1"
TECH_IP = f"{LAN}.250"
SNMP_COMMUNITY = "lab-ro-community"

# name, ip, mac (vendor OUI), tcp services {port: "banner" | "http:<title>"}, snmp sysDescr/OID
HOSTS = [
    ("sw1", f"{LAN}.10", "00:00:0c:12:34:10", {22: "SSH-2.0-Cisco-1.25\r\n"},
     ("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11",
      ".1.3.6.1.4.1.9.1.1208")),
    ("fw1", f"{LAN}.11", "00:09:0f:12:34:11", {22: "SSH-2.0-FortiSSH_2.5\r\n",
                                               443: "http:FortiGate - Login"}, None),
    ("rt1", f"{LAN}.12", "4c:5e:0c:12:34:12", {22: "SSH-2.0-ROSSSH\r\n"}, None),
    ("prn1", f"{LAN}.13", "3c:2a:f4:12:34:13", {9100: "", 80: "http:HP LaserJet M402dn"}, None),
    ("srv1", f"{LAN}.14", "3c:2c:30:12:34:14", {22: "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"}, None),
    ("ws1", f"{LAN}.15", "9a:12:34:56:78:15", {}, None),
    ("rsrv", f"{ROUTED}.20", "52:54:00:12:35:20", {80: "http:Intranet"}, None),
    ("rws", f"{ROUTED}.21", "52:54:00:12:35:21", {}, None),
]  # fmt: skip
EXPECTED_CLASS = {
    "sw1": ("switch", "cisco_ios"),
    "fw1": ("firewall", "fortinet"),
    "rt1": ("router", "mikrotik_routeros"),
    "prn1": ("printer", None),
    "srv1": ("server", "linux"),
}

SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    def serve(port, reply):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], port)); s.listen(64)
        while True:
            c, _ = s.accept()
            threading.Thread(target=talk, args=(c, reply), daemon=True).start()
    def talk(c, reply):
        c.settimeout(10)
        try:
            if reply.startswith("http:"):
                c.recv(4096)
                body = "<html><head><title>%s</title></head><body>ok</body></html>" % reply[5:]
                c.sendall(("HTTP/1.0 200 OK\\r\\nServer: lab\\r\\nContent-Type: text/html\\r\\n"
                           "Content-Length: %d\\r\\n\\r\\n%s" % (len(body), body)).encode())
            else:
                if reply:  # a banner service hangs up on garbage, as sshd does
                    c.sendall(reply.encode()); c.recv(4096)
                else:  # a JetDirect port swallows whatever arrives
                    while c.recv(4096): pass
        except OSError: pass
        finally: c.close()
    for arg in sys.argv[2:]:
        port, _, reply = arg.partition("=")
        threading.Thread(target=serve, args=(int(port), reply.encode().decode("unicode_escape")),
                         daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    """
)


class Site:
    """The namespaces, processes and paths of this module's small site."""

    def __init__(self, root: Path) -> None:
        # Not "kt" + hex: that shape is a lab id, and labs own every namespace with their prefix.
        self.prefix = f"kdisc{os.getpid() % 100000}"
        self.root = root
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.bridge_ns = self.ns("br")
        self.tech = self.ns("tech")

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def create(self, name: str) -> str:
        full = self.ns(name)
        netns.create(full)
        self.namespaces.append(full)
        return full

    def build(self) -> None:
        self.create("br")
        netns.add_bridge(self.bridge_ns, "br0")
        netns.run_in(self.bridge_ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
        self.create("tech")
        self.plug(self.tech, "vtech", f"{TECH_IP}/24", None)
        netns.ip("route", "add", f"{ROUTED}.0/24", "via", f"{LAN}.1", netns=self.tech)
        router = self.create("rt")
        self.plug(router, "vrt", f"{LAN}.1/24", None)
        netns.run_in(router, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        self.create("rbr")
        netns.add_bridge(self.ns("rbr"), "br1")
        netns.add_veth(router, "eth1", "vrt1", self.ns("rbr"), address=f"{ROUTED}.1/24")
        netns.attach_to_bridge(self.ns("rbr"), "vrt1", "br1")
        for name, ip, mac, services, snmp in HOSTS:
            self.add_host(name, ip, mac, services, snmp)

    def plug(self, ns: str, outer: str, address: str, mac: str | None, bridge: str = "br") -> None:
        netns.add_veth(ns, "eth0", outer, self.ns(bridge), mac=mac, address=address)
        netns.attach_to_bridge(self.ns(bridge), outer, "br0" if bridge == "br" else "br1")

    def add_host(self, name, ip, mac, services, snmp) -> str:
        ns = self.create(name)
        routed = ip.startswith(ROUTED)
        self.plug(ns, f"v{name}", f"{ip}/24", mac, "rbr" if routed else "br")
        if routed:
            netns.ip("route", "add", "default", "via", f"{ROUTED}.1", netns=ns)
        if services:
            self.start_services(ns, ip, services)
        if snmp:
            self.start_snmpd(ns, ip, name, *snmp)
        return ns

    def start_services(self, ns: str, ip: str, services: dict[int, str]) -> None:
        args = [
            f"{port}={reply.encode('unicode_escape').decode()}" for port, reply in services.items()
        ]
        proc = subprocess.Popen(
            [*netns.exec_prefix(ns), sys.executable, "-c", SERVER, ip, *args],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    def start_snmpd(self, ns: str, ip: str, name: str, descr: str, oid: str) -> None:
        folder = self.root / f"snmpd-{name}"
        folder.mkdir()
        conf = folder / "snmpd.conf"
        conf.write_text(
            f"agentAddress udp:{ip}:161\nrocommunity {SNMP_COMMUNITY}\n"
            f"sysDescr {descr}\nsysObjectID {oid}\nsysName {name}.lab\n"
        )
        proc = subprocess.Popen(
            [*netns.exec_prefix(ns), "snmpd", "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf)],
            env={**os.environ, "SNMP_PERSISTENT_DIR": str(folder), "MIBS": ""},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = netns.run_in(
                self.tech, ["snmpget", "-v2c", "-c", SNMP_COMMUNITY, "-t", "0.3", "-r", "0", ip,
                            "1.3.6.1.2.1.1.5.0"], check=False,
            )  # fmt: skip
            if out.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("snmpd did not answer")

    def teardown(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in reversed(self.namespaces):
            netns.delete(ns)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    built = Site(tmp_path_factory.mktemp("discover-site"))
    try:
        built.build()
        yield built
    finally:
        built.teardown()


def keyturn(site: Site, env: dict[str, str], *args: str, timeout: float = 120):
    return subprocess.run(
        [*netns.exec_prefix(site.tech), KEYTURN, "--non-interactive", "discover", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def first_run(site: Site, lab_keyring_env, tmp_path_factory: pytest.TempPathFactory):
    """One full discover of LAN + routed subnet with the right SNMP community. A keyring:
    discover writes the audit log (issue 13), whose key the keyring holds."""
    folder = tmp_path_factory.mktemp("discover-store")
    env = {**os.environ, **lab_keyring_env, "KEYTURN_STORE": str(folder / "site.db"),
           "KEYTURN_OPERATOR": "tester"}  # fmt: skip
    result = keyturn(
        site, env, "--scope", f"{LAN}.0/24", "--scope", f"{ROUTED}.0/24",
        "--snmp-community", SNMP_COMMUNITY, "--rate", "5000", "--json", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), env


def by_name(document: dict) -> dict[str, dict]:
    ips = {ip: name for name, ip, *_ in HOSTS}
    return {ips[h["ip"]]: h for h in document["hosts"] if h["ip"] in ips}


def test_every_lan_host_found_with_mac_and_vendor(first_run):
    document, _env = first_run
    found = by_name(document)
    for name, ip, mac, *_ in HOSTS:
        if ip.startswith(LAN):
            assert found[name]["mac"] == mac, name
            assert "arp" in found[name]["sources"]
    assert found["sw1"]["vendor"].startswith("Cisco")
    assert found["fw1"]["vendor"].startswith("Fortinet")
    assert found["rt1"]["vendor"].startswith("Routerboard")
    assert found["srv1"]["mac_randomized"] is False
    assert found["ws1"]["mac_randomized"] is True
    # The router's LAN leg answers too; the scanner itself is never listed.
    ips = {h["ip"] for h in document["hosts"]}
    assert f"{LAN}.1" in ips and TECH_IP not in ips
    assert len(ips) == len(HOSTS) + 2  # and both legs of the router


def test_routed_hosts_found_by_probes(first_run):
    found = by_name(first_run[0])
    for name in ("rsrv", "rws"):
        assert found[name]["mac"] is None
        assert {"icmp", "tcp"} & set(found[name]["sources"]), found[name]["sources"]


def test_services_match_what_hosts_serve(first_run):
    found = by_name(first_run[0])
    for name, _ip, _mac, services, snmp in HOSTS:
        open_ports = {p["port"] for p in found[name]["ports"] if p["state"] == "open"}
        assert open_ports == set(services) | ({161} if snmp else set()), name
    ssh = {
        h: next(p for p in found[h]["ports"] if p["port"] == 22)["product"] for h in ("sw1", "rt1")
    }
    assert ssh == {"sw1": "Cisco SSH", "rt1": "MikroTik RouterOS sshd"}
    assert found["prn1"]["http_title"] == "HP LaserJet M402dn"


def test_devices_classified(first_run):
    found = by_name(first_run[0])
    for name, (device_class, platform) in EXPECTED_CLASS.items():
        assert (found[name]["device_class"], found[name]["platform"]) == (device_class, platform), (
            name, found[name]["rule"],
        )  # fmt: skip
        assert 0 < found[name]["platform_confidence"] <= 1


def test_snmp_read_with_the_right_community_only(first_run, site: Site, tmp_path: Path):
    found = by_name(first_run[0])
    assert found["sw1"]["snmp"]["sys_descr"].startswith("Cisco IOS Software, C2960")
    assert found["sw1"]["snmp"]["sys_object_id"] == "1.3.6.1.4.1.9.1.1208"
    assert "snmp" in found["sw1"]["sources"] and "sw1.lab" in found["sw1"]["hostnames"]
    _document, env = first_run
    store = {**env, "KEYTURN_STORE": str(tmp_path / "wrong.db")}
    wrong = keyturn(
        site, store, "--scope", f"{LAN}.10/32", "--no-nmap", "--snmp-community", "not-it",
        "--json", "-",
    )  # fmt: skip
    assert wrong.returncode == 0, wrong.stderr
    (host,) = json.loads(wrong.stdout)["hosts"]
    assert host["snmp"] is None and "snmp" not in host["sources"]


def test_no_community_string_stored(first_run):
    _document, env = first_run
    raw = Path(env["KEYTURN_STORE"]).read_bytes()
    for suffix in ("", "-wal"):
        path = Path(env["KEYTURN_STORE"] + suffix)
        if path.exists():
            raw += path.read_bytes()
    assert SNMP_COMMUNITY.encode() not in raw
    assert SNMP_COMMUNITY not in json.dumps(first_run[0])


def capture(site: Site, ns: str, path: Path) -> subprocess.Popen:
    """tcpdump on ``ns``'s eth0 into ``path``, returned once it is listening."""
    proc = subprocess.Popen(
        [*netns.exec_prefix(ns), "tcpdump", "-i", "eth0", "-n", "-U", "-w", str(path)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    site.procs.append(proc)
    assert "listening on" in proc.stderr.readline()
    return proc


def packets(path: Path, expression: str) -> list[str]:
    out = subprocess.run(
        ["tcpdump", "-n", "-r", str(path), expression], capture_output=True, text=True
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def stop(proc: subprocess.Popen) -> None:
    time.sleep(0.3)  # let the last frames reach the capture
    proc.send_signal(signal.SIGINT)
    proc.wait(5)


def test_excluded_address_receives_no_packet(site: Site, first_run, tmp_path: Path):
    _document, env = first_run
    excluded = f"{LAN}.13"
    pcap = tmp_path / "excluded.pcap"
    dump = capture(site, site.ns("prn1"), pcap)
    result = keyturn(
        site, {**env, "KEYTURN_STORE": str(tmp_path / "x.db")}, "--scope", f"{LAN}.0/24",
        "--exclude", excluded, "--ports", "22,80,9100", "--snmp-community", "x", "--json", "-",
    )  # fmt: skip
    stop(dump)
    assert result.returncode == 0, result.stderr
    assert excluded not in {h["ip"] for h in json.loads(result.stdout)["hosts"]}
    # The capture works (it saw the broadcast requests for the other addresses) ...
    assert packets(pcap, "arp and src host " + TECH_IP)
    # ... and nothing was addressed to the excluded host: no ARP request, no IP packet.
    assert packets(pcap, f"dst host {excluded}") == []


def test_scope_outside_the_lab_refused_before_any_packet(site: Site, first_run, tmp_path: Path):
    _document, env = first_run
    pcap = tmp_path / "tech.pcap"
    dump = capture(site, site.tech, pcap)
    store = tmp_path / "refused.db"
    result = keyturn(site, {**env, "KEYTURN_STORE": str(store)}, "--scope", "8.8.8.0/24")
    stop(dump)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "public address range in scope: 8.8.8.0/24" in result.stderr
    assert packets(pcap, "src host " + TECH_IP) == []
    assert not store.exists()


def test_without_cap_net_raw_one_line_and_exit_2(site: Site, tmp_path: Path):
    env = {**os.environ, "KEYTURN_STORE": str(tmp_path / "nobody.db"), "KEYTURN_OPERATOR": "x"}
    result = subprocess.run(
        [*netns.exec_prefix(site.tech), "setpriv", "--reuid=65534", "--regid=65534",
         "--clear-groups", "--inh-caps=-all", KEYTURN, "discover", "--scope", f"{LAN}.0/24"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAP_NET_RAW" in lines[0] and lines[0].startswith("keyturn: error:")
    assert not (tmp_path / "nobody.db").exists()


# Answers ARP for one address from user space, ignoring the first request: a lost frame.
LOSSY_RESPONDER = """
import socket, struct, sys
ip, mac = socket.inet_aton(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(":", ""))
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
sock.bind(("eth0", 0))
print("ready", flush=True)
asked = 0
while True:
    frame = sock.recv(64)
    if frame[20:22] != b"\\x00\\x01" or frame[38:42] != ip:
        continue
    asked += 1
    print(asked, flush=True)
    if asked > 1:
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac + ip + frame[22:32]
        sock.send(frame[6:12] + mac + b"\\x08\\x06" + arp)
"""


def test_a_lost_request_is_asked_again_at_full_rate(site: Site, first_run, tmp_path: Path):
    """A host whose first ARP request is lost (no kernel address: a responder that ignores
    the first request) is found by the retry, also at --rate max."""
    _document, env = first_run
    ip, mac = f"{LAN}.17", "00:00:0c:12:34:17"
    ns = site.create("lossy")
    site.plug(ns, "vlossy", None, mac)
    proc = subprocess.Popen(
        [*netns.exec_prefix(ns), sys.executable, "-c", LOSSY_RESPONDER, ip, mac],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    site.procs.append(proc)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = keyturn(
            site, {**env, "KEYTURN_STORE": str(tmp_path / "lossy.db")}, "--scope",
            f"{LAN}.0/24", "--rate", "max", "--no-nmap", "--json", "-",
        )  # fmt: skip
    finally:
        proc.kill()  # gone again before the second-run test compares the site with run one
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    found = {h["ip"]: h["mac"] for h in document["hosts"]}
    assert found[ip] == mac
    assert {h[1] for h in HOSTS if h[1].startswith(LAN)} <= set(found)
    assert proc.stdout.readline().strip() == "1"  # the lost one ...
    assert proc.stdout.readline().strip() == "2"  # ... and the retry that found it


SWEEP_BESIDE_A_BUSY_THREAD = """
import ipaddress, sys, threading
from agent.discovery import arp
from agent.discovery.interfaces import local_interfaces
sys.setswitchinterval(0.05)  # the busy thread keeps the GIL up to 50 ms at a time
busy = threading.Event()
def spin():
    busy.set()
    while True:
        sum(range(1000))
threading.Thread(target=spin, daemon=True).start()
busy.wait()
iface = next(i for i in local_interfaces() if i.name == "eth0")
result = arp.sweep(iface, list(ipaddress.ip_network(sys.argv[1]).hosts()), rate=5000)
print(len(result.replies), result.slowest_reply)
"""


def test_reply_times_are_the_kernels_not_the_threads(site: Site, first_run):
    """The quiet period after a sweep is derived from the slowest reply: timed when the
    collector thread got to a reply, a thread holding the GIL beside the sweep (the rule
    table's parse, the keyring's unlock) made LAN replies of ~0.3 ms look like 17 ms and the
    /24 sweep wait 0.12 s longer. With the kernel's arrival stamps they stay LAN-fast."""
    result = subprocess.run(
        [*netns.exec_prefix(site.tech), sys.executable, "-c", SWEEP_BESIDE_A_BUSY_THREAD,
         f"{LAN}.0/24"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found, slowest = result.stdout.split()
    assert int(found) >= len([h for h in HOSTS if h[1].startswith(LAN)])
    assert 0 < float(slowest) < 0.01  # thread-timed: 0.05 s and more


def test_a_locked_keyring_stops_the_run_before_enrichment(site: Site, first_run, tmp_path: Path):
    """The audit log signs a discover's line at the end, and its key was fetched only then:
    with the keyring locked, the whole scan ran and was stored, and the run failed after it
    (after an hour on a large site), its line never written. The key is now fetched beside
    the sweep: the run fails before nmap starts and before any host is stored."""
    _document, env = first_run
    store = tmp_path / "locked.db"
    locked = {k: v for k, v in env.items() if k != "KEYRING_CRYPTFILE_PASSWORD"}
    result = keyturn(
        site, {**locked, "KEYTURN_STORE": str(store)}, "--scope", f"{LAN}.0/24", "--rate",
        "5000", "--json", "-",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "keyring is locked" in result.stderr and "Traceback" not in result.stderr
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT command, status FROM runs").fetchall()
        stored = db.execute("SELECT count(*) FROM host_observations").fetchone()
    assert runs == [("discover", "failed")]
    assert stored == (0,)
    assert result.stdout == ""


def test_a_routed_sweep_done_before_the_arp_sweep_leads_the_port_pass(
    site: Site, first_run, tmp_path: Path
):
    """When the routed sweep ends first (a /16's ARP sweep takes seconds; here a slow rate
    over a /24 against two routed addresses that answer at once), its hosts lead the one
    port-scan process instead of getting a second one after the local hosts."""
    _document, env = first_run
    result = keyturn(
        site, {**env, "KEYTURN_STORE": str(tmp_path / "routed-first.db")},
        "--scope", f"{LAN}.0/24", "--scope", f"{ROUTED}.20/31", "--rate", "300",
        "--ports", "22,80", "--json", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    seconds = document["stats"]["stage_seconds"]
    arp = next(v for k, v in seconds.items() if k.startswith("arp:"))
    assert seconds["routed"] < arp, seconds  # the premise: the routed sweep ended first
    assert document["stats"]["nmap:ports"]["nmap_runs"] == 1, document["stats"]
    found = by_name(document)
    assert {p["port"] for p in found["rsrv"]["ports"] if p["state"] == "open"} == {80}
    assert {
        p["port"] for p in found["sw1"]["ports"] if p["proto"] == "tcp" and p["state"] == "open"
    } == {22}


RDNS_PROBE = """
import sys
from pathlib import Path
from agent.discovery import names
names.RESOLV_CONF = Path(sys.argv[1])
print(names._routable_nameservers(names.RESOLV_CONF))
print(names.reverse_dns(sys.argv[2:])[1], "dns" in sys.modules)
"""


def test_reverse_dns_skipped_without_a_route_to_any_nameserver(site: Site, tmp_path: Path):
    """The site's technician routes only the lab ranges: a nameserver elsewhere is dropped
    from the list by a route lookup (UDP connect, no packet) and dnspython is not loaded."""
    conf = tmp_path / "resolv.conf"
    probe = [
        *netns.exec_prefix(site.tech),
        sys.executable,
        "-c",
        RDNS_PROBE,
        str(conf),
        f"{LAN}.10",
    ]
    conf.write_text(f"# lab\nnameserver 192.0.2.53\nnameserver {LAN}.1\nsearch lab\n")
    out = subprocess.run(probe[:-1], capture_output=True, text=True, timeout=60)  # no query
    assert out.stdout.splitlines()[0] == f"['{LAN}.1']", out.stderr
    conf.write_text("nameserver 192.0.2.53\n")
    out = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines() == [
        "[]",
        "reverse DNS skipped: no route to any nameserver False",
    ], out.stderr


def test_second_run_shows_what_changed(site: Site, first_run):
    """Runs last: it changes the site. New host, gone host, new port, and a MAC change."""
    document, env = first_run
    site.add_host("new1", f"{LAN}.16", "00:00:0c:12:34:16", {80: "http:new"}, None)
    netns.ip("link", "set", "eth0", "down", netns=site.ns("srv1"))
    netns.ip("link", "set", "eth0", "address", "00:09:0f:99:99:15", netns=site.ns("ws1"))
    site.start_services(site.ns("sw1"), f"{LAN}.10", {80: "http:switch"})
    result = keyturn(
        site, env, "--scope", f"{LAN}.0/24", "--scope", f"{ROUTED}.0/24",
        "--snmp-community", SNMP_COMMUNITY, "--json", "-",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)["diff"]
    assert diff["previous_run_id"] >= document["run_id"]
    assert [h["ip"] for h in diff["new"]] == [f"{LAN}.16"]
    assert [h["ip"] for h in diff["gone"]] == [f"{LAN}.14"]
    assert diff["mac_changed"] == [
        {"ip": f"{LAN}.15", "old": "9a:12:34:56:78:15", "new": "00:09:0f:99:99:15"}
    ]
    changed = {c["ip"]: c for c in diff["changed"]}
    assert changed[f"{LAN}.10"]["ports"] == {"added": ["80/tcp"], "removed": []}
    assert changed[f"{LAN}.15"]["class"]["new"] == "firewall"  # now a Fortinet OUI
    assert "WARNING: 198.18.0.15 now answers from MAC 00:09:0f:99:99:15" in result.stderr
