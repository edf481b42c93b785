"""Acceptance tests of the simulated client site: every service answers from the technician
namespace, the records are honest, and ``lab down`` removes exactly what ``lab up`` made, also
after its owner was killed half-way."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from lab import netns, state
from tests.conftest import KEYTURN, PYTHON

pytestmark = pytest.mark.lab


def _in_tech(lab, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*lab.exec_prefix(), *argv], capture_output=True, text=True, timeout=timeout
    )


def _store(lab):
    from agent.core.secret_store import SecretStore

    return SecretStore(lab.client)


def test_manifest_site_config_and_macs(lab):
    from netaddr import EUI

    from agent import config

    manifest = json.loads((lab.state_dir / "manifest.json").read_text())
    hosts = manifest["hosts"]
    assert 28 <= len(hosts) <= 40
    assert {h["subnet"] for h in hosts} == {"lan", "routed"}
    assert len({h["mac"] for h in hosts}) == len(hosts)
    assert len({h["ip"] for h in hosts}) == len(hosts)
    for host in hosts:
        org = EUI(host["mac"]).oui.registration().org.lower()
        expected = {"MikroTik": "routerboard", "HP": "hewlett", "Microsoft": "microsoft"}.get(
            host["vendor"], host["vendor"].lower()
        )
        assert expected in org, (host["name"], org)
    platforms = {h["platform"] for h in hosts if h["platform"]}
    assert {
        "cisco_ios",
        "cisco_asa",
        "cisco_nxos",
        "juniper_junos",
        "arista_eos",
        "fortinet",
        "mikrotik_routeros",
        "linux",
    } <= platforms
    assert sum(h["legacy"] for h in hosts) == 1

    site = config.load(lab.site_config_path)
    assert site.client == lab.client == manifest["client"]
    assert site.scope == ["198.18.0.0/24", "198.18.1.0/24"]
    assert site.discover.snmp_communities == [manifest["snmp_community"]]
    assert site.ad.server == manifest["ad"]["server"] == "198.18.0.10"
    assert site.ad.transport == "ldaps" and Path(site.ad.ca_file).is_file()
    assert site.rotation.enabled is True
    assert (site.lab.id, site.lab.technician_netns) == (lab.lab_id, lab.tech_ns)


def test_the_lab_config_is_refused_outside_the_lab(lab, lab_cli_env):
    """Run by mistake from the root namespace, a dry run would send SSH attempts to 198.18.x
    through the machine's real default route: refused before anything is opened."""
    outside = subprocess.run(
        [KEYTURN, "rotate", "--from-inventory", "--dry-run"],
        env=lab_cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert outside.returncode == 2, outside.stderr
    assert f"belongs to lab {lab.lab_id}" in outside.stderr
    assert len(outside.stderr.strip().splitlines()) == 1
    inside = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "secrets", "list"],
        env=lab_cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert inside.returncode == 0, inside.stderr
    assert "admin@198.18.0.1" in inside.stdout


def test_no_password_in_any_lab_record(lab):
    store = _store(lab)
    secrets = [store.get(e.host, e.user) for e in store.entries()]
    assert len(secrets) >= 12
    records = [p for p in lab.state_dir.rglob("*") if p.is_file() and p.stat().st_size < 5e6]
    assert len(records) > 50
    for path in records:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.reveal().encode() not in data, path


def test_lab_daemons_do_not_inherit_the_keyring_unlock_password(lab, lab_keyring_env):
    # They outlive lab up; /proc/PID/environ would show it for as long as the lab runs.
    unlock = lab_keyring_env["KEYRING_CRYPTFILE_PASSWORD"].encode()
    checked = 0
    for record in lab.state.processes:
        if not state.alive(record):
            continue
        environ = Path(f"/proc/{record.pid}/environ").read_bytes()
        assert b"KEYRING_CRYPTFILE_PASSWORD" not in environ, record
        assert unlock not in environ, record
        checked += 1
    assert checked >= 10


def test_technician_has_no_default_route_and_reaches_the_routed_subnet(lab):
    routes = _in_tech(lab, "ip", "-4", "route").stdout
    assert "default" not in routes
    assert re.search(r"198\.18\.1\.0/24 via 198\.18\.0\.1", routes)
    assert _in_tech(lab, "ping", "-c1", "-W2", "198.18.1.20").returncode == 0


def test_http_titles(lab):
    for host in lab.manifest["hosts"]:
        if host["http_title"] and any(s["port"] == 80 for s in host["services"]):
            page = _in_tech(lab, "curl", "-s", "-m", "5", f"http://{host['ip']}/").stdout
            assert f"<title>{host['http_title']}</title>" in page, host["name"]


def _talk(lab, ip: str, port: int, payload: bytes, kind=socket.SOCK_STREAM) -> bytes:
    with netns.inside(lab.tech_ns):
        sock = socket.socket(socket.AF_INET, kind)
    with sock:
        sock.settimeout(5)
        sock.connect((ip, port))
        sock.send(payload)
        return sock.recv(4096)


def test_printer_rdp_smb_and_sip_answer_like_devices(lab):
    hosts = lab.manifest["hosts"]
    printer = next(h for h in hosts if h["device_class"] == "printer")
    pjl = _talk(lab, printer["ip"], 9100, b"\x1b%-12345X@PJL INFO ID\r\n")
    assert printer["http_title"].encode() in pjl
    rdp_host = next(h for h in hosts if any(s["port"] == 3389 for s in h["services"]))
    assert (
        _talk(lab, rdp_host["ip"], 3389, bytes.fromhex("030000130ee000000000000100080003000000"))[
            :2
        ]
        == b"\x03\x00"
    )
    # As Windows: anything but a connection request on 3389, and nmap's SMB1 negotiation on
    # 445 (SMB1 removed), are hung up on.
    assert _talk(lab, rdp_host["ip"], 3389, b"\r\n\r\n") == b""
    workstation = next(
        h for h in hosts
        if h["device_class"] == "workstation" and "smb" not in h
        and any(s["port"] == 445 for s in h["services"])
    )  # fmt: skip
    assert _talk(lab, workstation["ip"], 445, b"\x00\x00\x00\x2f\xffSMBr" + bytes(42)) == b""
    phone = next(h for h in hosts if h["device_class"] == "voip")
    options = (
        f"OPTIONS sip:{phone['ip']} SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.250\r\n"
        "From: <sip:t@lab>\r\nTo: <sip:p@lab>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    reply = _talk(lab, phone["ip"], 5060, options.encode(), socket.SOCK_DGRAM).decode()
    assert reply.startswith("SIP/2.0 200 OK") and "Polycom" in reply and "Call-ID: 1" in reply


def test_snmp_answers_only_the_lab_community(lab):
    community = lab.manifest["snmp_community"]
    snmp_hosts = [h for h in lab.manifest["hosts"] if h["snmp"]]
    assert len(snmp_hosts) >= 10
    for host in snmp_hosts:
        out = _in_tech(
            lab,
            "snmpget",
            "-v2c",
            "-c",
            community,
            "-On",
            "-t",
            "2",
            host["ip"],
            "1.3.6.1.2.1.1.1.0",
            "1.3.6.1.2.1.1.2.0",
            "1.3.6.1.2.1.1.5.0",
        ).stdout
        assert host["snmp"]["sys_descr"] in out, host["name"]
        assert host["snmp"]["sys_object_id"] in out, host["name"]
        assert f'"{host["name"]}"' in out
    wrong = _in_tech(
        lab,
        "snmpget",
        "-v2c",
        "-c",
        "public",
        "-t",
        "0.5",
        "-r",
        "0",
        snmp_hosts[0]["ip"],
        "1.3.6.1.2.1.1.1.0",
    )
    assert wrong.returncode != 0


def test_linux_host_password_login_and_private_etc(lab):
    import paramiko

    host = next(h for h in lab.manifest["hosts"] if h["platform"] == "linux")
    user = host["credentials"][0]["username"]
    password = _store(lab).get(host["ip"], user)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - lab host
    with netns.inside(lab.tech_ns):
        client.connect(
            host["ip"],
            username=user,
            password=password.reveal(),
            timeout=10,
            allow_agent=False,
            look_for_keys=False,
        )
    try:
        _, out, _ = client.exec_command("id -un; grep -c . /etc/shadow")
        lines = out.read().decode().split()
    finally:
        client.close()
    assert lines[0] == user
    assert user not in Path("/etc/passwd").read_text()  # the account lives in the lab only


def test_every_simulator_logs_in_with_unchanged_netmiko(lab):
    devices = [h for h in lab.manifest["hosts"] if h["simulator_state_dir"]]
    assert len(devices) >= 7
    script = (
        "import json, sys, concurrent.futures as cf\n"
        "from netmiko import ConnectHandler\n"
        "from agent.core.secret_store import SecretStore\n"
        "store = SecretStore(sys.argv[1])\n"
        "def login(d):\n"
        "    enable = store.get(d['ip'], 'enable')\n"
        "    conn = ConnectHandler(device_type=d['platform'], host=d['ip'], username='admin',\n"
        "        password=store.get(d['ip'], 'admin').reveal(),\n"
        "        secret=enable.reveal() if enable else '', timeout=20)\n"
        "    prompt = conn.find_prompt(); conn.disconnect(); return prompt\n"
        "devices = json.loads(sys.argv[2])\n"
        "with cf.ThreadPoolExecutor(8) as pool:\n"
        "    print(json.dumps(dict(zip([d['name'] for d in devices], pool.map(login, devices)))))\n"
    )
    out = _in_tech(lab, PYTHON, "-c", script, lab.client, json.dumps(devices), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    prompts = json.loads(out.stdout)
    for device in devices:
        assert device["name"] in prompts[device["name"]], prompts


def test_ldaps_bind_to_the_lab_dc(lab):
    import ssl

    import ldap3

    ad = lab.manifest["ad"]
    password = _store(lab).get(ad["server"], ad["admin_user"])
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ad["ca_file"])
    server = ldap3.Server(ad["server"], port=636, use_ssl=True, tls=tls, connect_timeout=5)
    with netns.inside(lab.tech_ns):
        conn = ldap3.Connection(server, ad["admin_user"], password.reveal(), auto_bind=True)
    try:
        assert conn.search(
            ad["base_dn"], "(sAMAccountName=Administrator)", attributes=["sAMAccountName"]
        )
        assert conn.entries
    finally:
        conn.unbind()
    assert ad["expected"]["privileged"]["Domain Admins"]["members"]


def test_add_and_remove_host(lab):
    from lab.site import LabError

    before = {h["name"] for h in lab.manifest["hosts"]}
    entry = lab.add_host(
        "tmp-ws99", "198.18.0.99", vendor="Intel", tcp=[445, 80], http_title="Planted"
    )
    device = lab.add_host(
        "tmp-sw98", "198.18.1.98", vendor="Cisco", device_class="switch", platform="cisco_ios"
    )
    try:
        assert entry["mac"].startswith("00:1b:21")
        page = _in_tech(lab, "curl", "-s", "-m", "5", "http://198.18.0.99/").stdout
        assert "<title>Planted</title>" in page
        assert _store(lab).get("198.18.1.98", "admin") is not None
        banner = _talk(lab, "198.18.1.98", 22, b"SSH-2.0-probe\r\n")
        assert banner.startswith(b"SSH-2.0-")
        with pytest.raises(LabError):
            lab.add_host("tmp-ws99", "198.18.0.97")
        with pytest.raises(LabError):
            lab.add_host("tmp-far", "198.18.7.7")
    finally:
        lab.remove_host("tmp-ws99")
        lab.remove_host("tmp-sw98")
    assert {h["name"] for h in lab.manifest["hosts"]} == before
    assert not netns.exists(entry["netns"]) and not netns.exists(device["netns"])
    assert _in_tech(lab, "ping", "-c1", "-W1", "198.18.0.99").returncode != 0


def _cli(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, "lab", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _assert_gone(lab_id: str, namespaces: list[str], processes: list[state.ProcessRecord]):
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in namespaces if n in listed.split()]
    assert lab_id not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    ps = subprocess.run(["ps", "-eo", "pid="], capture_output=True, text=True).stdout.split()
    assert not [p for p in processes if str(p.pid) in ps and state.alive(p)]
    assert not (state.STATE_ROOT / lab_id).exists()


def test_owner_killed_mid_up_then_down_removes_everything(lab_keyring_env):
    env = dict(os.environ, **lab_keyring_env)
    lab_id = state.new_lab_id()
    owner = subprocess.Popen(
        [KEYTURN, "lab", "up", "--id", lab_id],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    recorded: state.LabState | None = None
    while time.monotonic() < deadline:
        try:
            recorded = state.LabState.load(lab_id)
        except (FileNotFoundError, json.JSONDecodeError):
            recorded = None
        if recorded and len(recorded.processes) >= 5:
            break
        time.sleep(0.05)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert recorded is not None and recorded.status == "starting"
    recorded = state.LabState.load(lab_id)
    assert any(state.alive(p) for p in recorded.processes)  # orphans are really there
    result = _cli(env, "down", lab_id, "--keep-secrets")
    assert result.returncode == 0, result.stderr
    _assert_gone(lab_id, recorded.namespaces, recorded.processes)


def test_second_lab_side_by_side_through_the_cli(lab, lab_keyring_env):
    env = dict(os.environ, **lab_keyring_env)
    lab_id = state.new_lab_id()
    result = _cli(env, "up", "--id", lab_id, "--no-dc")
    assert result.returncode == 0, result.stderr
    try:
        status = json.loads(_cli(env, "status", lab_id, "--json").stdout)[0]
        assert status["namespaces_present"] == status["namespaces"]
        assert status["processes_alive"] == status["processes"]
        mine = _cli(
            env,
            "exec",
            "--lab",
            lab_id,
            "--",
            "sh",
            "-c",
            "echo $KEYTURN_CONFIG; curl -s -m5 http://198.18.0.20/ && ip neigh show 198.18.0.20",
        )
        assert f"/run/keyturn-lab/{lab_id}/site.toml" in mine.stdout
        theirs = _in_tech(
            lab, "sh", "-c", "curl -s -m5 http://198.18.0.20/ && ip neigh show 198.18.0.20"
        )
        assert "HP LaserJet" in mine.stdout and "HP LaserJet" in theirs.stdout
        mac = re.compile(r"lladdr (\S+)")
        assert mac.search(mine.stdout).group(1) != mac.search(theirs.stdout).group(1)
        recorded = state.LabState.load(lab_id)
    finally:
        down = _cli(env, "down", lab_id, "--keep-secrets")
    assert down.returncode == 0, down.stderr
    _assert_gone(lab_id, recorded.namespaces, recorded.processes)
    assert netns.exists(lab.tech_ns)  # the session lab is untouched


def test_lab_refuses_without_root():
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", KEYTURN, "lab", "status"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "needs root" in result.stderr


def test_manifest_lists_what_a_scan_finds(lab):
    """nmap from the technician finds exactly the manifest's live hosts and open TCP ports."""
    hosts = lab.manifest["hosts"]
    ports = sorted({s["port"] for h in hosts for s in h["services"] if s["proto"] == "tcp"})
    out = _in_tech(
        lab,
        "nmap",
        "-n",
        "-sS",
        "-T4",
        "--max-retries",
        "1",
        "-p",
        ",".join(map(str, ports)),
        "198.18.0.0/24",
        "198.18.1.0/24",
        "-oG",
        "-",
        timeout=180,
    ).stdout
    found = {
        m[0]: {int(p) for p in re.findall(r"(\d+)/open/tcp", m[1])}
        for m in re.findall(r"Host: (\S+) .*Ports: (.*)", out)
    }
    found.pop(lab.manifest["tech"]["ip"], None)
    expected = {h["ip"]: {s["port"] for s in h["services"] if s["proto"] == "tcp"} for h in hosts}
    # The router's routed-side address is live, but its services listen on the LAN address.
    expected.update({ip: set() for h in hosts for ip in h["other_ips"]})
    assert found == expected


def test_large_lab_phantoms_answer_arp_without_flooding_real_hosts(lab_keyring_env):
    from lab.site import Lab

    limits = state.NEIGHBOUR_SYSCTL
    limits_before = {name: (limits / name).read_text() for name in state.NEIGHBOUR_LIMITS}
    large = Lab.up("large", with_dc=False, owner_bound=True)
    try:
        # Room in the kernel's one neighbour table for ~4000 live addresses while it is up.
        for name, value in state.NEIGHBOUR_LIMITS.items():
            assert int((limits / name).read_text()) >= int(value)
        phantoms = large.manifest["phantoms"]
        assert 3900 <= len(phantoms) <= 4200
        assert len({p["mac"] for p in phantoms}) == len(phantoms)
        lan_hosts = [h for h in large.manifest["hosts"] if h["subnet"] == "lan"]
        port = lan_hosts[-1]["bridge_port"]  # a real host's bridge port: what reaches it

        def sent_to_host() -> int:
            out = netns.ip("-s", "-j", "link", "show", port, netns=large.bridge_ns).stdout
            return json.loads(out)[0]["stats64"]["tx"]["packets"]

        before = sent_to_host()
        iface = large.manifest["tech"]["iface"]
        sweep = _in_tech(
            large,
            "arp-scan",
            "-I",
            iface,
            "-B",
            "100M",
            "-r",
            "2",
            "-q",
            "-x",
            "198.18.0.0/16",
            timeout=120,
        )
        found = dict(line.split("\t")[:2] for line in sweep.stdout.splitlines())
        assert sent_to_host() - before < 1000  # a flooded /16 sweep would be ~65k frames
        # The TCP phantoms answer a closed UDP port each, as separate hosts do: one kernel
        # with its default ICMP budget answered ~6 of them and OS detection flipped.
        tcp = [p["ip"] for p in large.manifest["tcp_phantoms"]][:64]
        probe = _in_tech(large, "nmap", "-n", "-Pn", "-sU", "-p", "9", "--max-retries", "0",
                         "-oG", "-", *tcp, timeout=120)  # fmt: skip
        assert probe.stdout.count("9/closed/udp") == len(tcp), probe.stdout[-2000:]
    finally:
        large.down(forget_secrets=False)
    assert {name: (limits / name).read_text() for name in limits_before} == limits_before
    expected = {p["ip"]: p["mac"] for p in phantoms}
    expected.update({h["ip"]: h["mac"] for h in lan_hosts})
    assert found == expected
