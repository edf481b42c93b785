"""keyturn discover against the shared simulated client site, checked against its manifest:
every host with its MAC and vendor, routed hosts, services, HTTP titles, SNMP and the device
class and platform the lab says each device is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.discovery.names import vendor
from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab

# Discovery cannot tell from the network what the lab decided out of band: two Linux servers
# run OpenSSH (netmiko's linux) but hold no credentials the lab rotates, so the manifest
# leaves their platform empty; likewise the NAS and the ESXi host (real sshd hosts in the
# lab), whose sysDescr names DSM and ESXi. (The gateway is a simulated EdgeRouter.)
PLATFORM_NOT_FROM_THE_WIRE = {
    "web1": "linux", "app1": "linux", "nas1": "synology_dsm", "esxi1": "vmware_esxi",
    # Linux by OS detection or, when its input policy drops -O's probes, by its SSH banner.
    "nft-gw1": "linux",
}  # fmt: skip


@pytest.fixture(scope="module")
def scanned(lab, lab_keyring_env, tmp_path_factory: pytest.TempPathFactory):
    import os

    manifest = lab.manifest
    tcp_ports = sorted(
        {s["port"] for h in manifest["hosts"] for s in h["services"] if s["proto"] == "tcp"}
    )
    env = {**os.environ, **lab_keyring_env, "KEYTURN_CONFIG": str(lab.site_config_path)}
    env["KEYTURN_STORE"] = str(tmp_path_factory.mktemp("discover-site") / "lab.db")
    env["KEYTURN_OPERATOR"] = "tester"
    result = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "--non-interactive", "discover",
         "--ports", ",".join(map(str, tcp_ports)), "--json", "-"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    return manifest, {h["ip"]: h for h in document["hosts"]}, document, env


def test_every_host_found_with_mac_and_vendor(scanned):
    manifest, found, document, _env = scanned
    lan = manifest["subnets"]["lan"].rsplit(".", 1)[0] + "."
    for host in manifest["hosts"]:
        got = found[host["ip"]]
        if host["ip"].startswith(lan):
            assert got["mac"] == host["mac"].lower() and "arp" in got["sources"], host["name"]
            assert got["vendor"] and got["vendor"] == vendor(host["mac"]), host["name"]
        else:
            assert {"icmp", "tcp"} & set(got["sources"]), host["name"]
    assert manifest["tech"]["ip"] not in found
    stats = next(v for k, v in document["stats"].items() if k.startswith("arp:"))
    assert stats["achieved_rate"] <= stats["configured_rate"] * 1.1


def test_services_and_titles_match(scanned):
    manifest, found, _document, _env = scanned
    for host in manifest["hosts"]:
        got = found[host["ip"]]
        expected = {(s["port"], s["service"]) for s in host["services"] if s["proto"] == "tcp"}
        open_ports = {
            p["port"]: p["service"]
            for p in got["ports"]
            if p["state"] == "open" and p["proto"] == "tcp"
        }
        assert set(open_ports) == {port for port, _ in expected}, host["name"]
        udp = {p["port"] for p in got["ports"] if p["proto"] == "udp" and p["state"] == "open"}
        assert (161 in udp) == any(s["port"] == 161 for s in host["services"]), host["name"]
        if host["http_title"]:
            assert got["http_title"] == host["http_title"], host["name"]
    ssh = [p for p in found[manifest["hosts"][1]["ip"]]["ports"] if p["port"] == 22]
    assert ssh and ssh[0]["service"] == "ssh" and ssh[0]["product"]


def test_snmp_answers_match(scanned):
    manifest, found, _document, env = scanned
    for host in manifest["hosts"]:
        got = found[host["ip"]]
        if host["snmp"]:
            expected = {k: host["snmp"][k] for k in ("sys_descr", "sys_object_id", "sys_name")}
            assert {k: got["snmp"][k] for k in expected} == expected, host["name"]
            # The standard objects classification weighs, as the lab's snmpd answers them.
            assert got["snmp"]["sys_services"] == "78", host["name"]
            assert got["snmp"]["hr_system_uptime"], host["name"]
        else:
            assert got["snmp"] is None, host["name"]
    community = manifest["snmp_community"]
    store = Path(env["KEYTURN_STORE"])
    stored = b"".join(p.read_bytes() for p in store.parent.iterdir() if p.is_file())
    assert community.encode() not in stored


def test_devices_classified_as_the_lab_says(scanned):
    manifest, found, _document, _env = scanned
    wrong = {}
    for host in manifest["hosts"]:
        got = found[host["ip"]]
        platform = host["platform"] or PLATFORM_NOT_FROM_THE_WIRE.get(host["name"])
        if (got["device_class"], got["platform"]) != (host["device_class"], platform):
            wrong[host["name"]] = (got["device_class"], got["platform"], got["rule"])
    assert wrong == {}
