"""Classification accuracy on recorded answers of real devices (tests/data/device_corpus.toml).

Each entry is what discovery would have recorded for one real device (SNMP system group and
the standard MIB probes, SSH banner, HTTP title, open ports, MAC vendor) with the class and
platform it should get. The figures are printed (pytest -s) and held to the acceptance line
of issue 22: class right for >= 90 % of devices, platform right for >= 90 % of those with a
platform, and no UPS, PDU, camera or BMC ever called a network device.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.discovery import classify
from agent.discovery.model import Host, Port

CORPUS = Path(__file__).with_name("data") / "device_corpus.toml"
NETWORK = {"router", "firewall", "switch", "access_point"}
NEVER_NETWORK = {"ups", "pdu", "camera", "bmc", "iot"}
SNMP_FIELDS = ("sys_descr", "sys_object_id", "sys_services", "ip_forwarding", "bridge_ports",
               "ent_class", "ent_model")  # fmt: skip


def load() -> list[dict[str, Any]]:
    return tomllib.loads(CORPUS.read_text(encoding="utf-8"))["device"]


def host_of(entry: dict[str, Any]) -> Host:
    """The Host discovery would have built from what the device answered."""
    snmp = {k: str(entry[k]) for k in SNMP_FIELDS if k in entry}
    if snmp and entry.get("host_resources"):
        snmp["hr_system_uptime"] = "1"
    ports = []
    for number in entry.get("ports", []):
        ssh = number == 22
        ports.append(Port(number, service="ssh" if ssh else None,
                          product=entry.get("ssh_product") if ssh else None))  # fmt: skip
    os_guess = None
    if "os" in entry:
        name, kind, vendor, family = (part.strip() for part in entry["os"].split("|"))
        os_guess = {"name": name, "type": kind, "vendor": vendor, "family": family}
    return Host(ip="192.0.2.1", vendor=entry.get("vendor"), snmp=snmp or None, ports=ports,
                http_title=entry.get("http_title"), os=os_guess)  # fmt: skip


def score(entries: list[dict[str, Any]]) -> dict[str, Any]:
    class_ok, platform_total, platform_ok, wrong, unsafe = 0, 0, 0, [], []
    for entry in entries:
        result = classify.classify(host_of(entry))
        expected_platform = entry.get("platform")
        good_class = result.device_class == entry["class"]
        class_ok += good_class
        if expected_platform:
            platform_total += 1
            platform_ok += result.platform == expected_platform
        if not good_class or result.platform != expected_platform:
            wrong.append((entry["name"], entry["class"], expected_platform,
                          result.device_class, result.platform, result.rule))  # fmt: skip
        if entry["class"] in NEVER_NETWORK and result.device_class in NETWORK:
            unsafe.append(entry["name"])
    return {
        "devices": len(entries), "class_ok": class_ok, "platform_total": platform_total,
        "platform_ok": platform_ok, "wrong": wrong, "unsafe": unsafe,
    }  # fmt: skip


def test_corpus_is_big_and_varied_enough():
    entries = load()
    assert len(entries) >= 50
    assert len({e["family"] for e in entries}) >= 25
    assert len({e["name"] for e in entries}) == len(entries)
    assert all(e.get("source") for e in entries)


def test_corpus_accuracy():
    result = score(load())
    class_rate = result["class_ok"] / result["devices"]
    platform_rate = result["platform_ok"] / result["platform_total"]
    print(
        f"\ncorpus: class {result['class_ok']}/{result['devices']} ({class_rate:.1%}),"
        f" platform {result['platform_ok']}/{result['platform_total']} ({platform_rate:.1%})"
    )
    for name, want_class, want_platform, got_class, got_platform, rule in result["wrong"]:
        print(
            f"  {name}: want {want_class}/{want_platform}, got {got_class}/{got_platform} ({rule})"
        )
    assert result["unsafe"] == [], "power, camera or BMC devices called network devices"
    assert class_rate >= 0.9
    assert platform_rate >= 0.9


@pytest.mark.parametrize("entry", load(), ids=lambda e: e["name"])
def test_no_power_camera_or_bmc_is_a_network_device(entry: dict[str, Any]):
    if entry["class"] in NEVER_NETWORK:
        assert classify.classify(host_of(entry)).device_class not in NETWORK


def test_new_classes_get_credential_items_on_the_checklist(tmp_path: Path):
    from inventory import checklist
    from inventory.classes import DEVICE_CLASSES
    from inventory.store import Store
    from tests.test_checklist import write_discover_run

    # Every class but hosts (whose admins are directory items) maps to a checklist kind.
    assert set(checklist.CLASS_KIND) == set(DEVICE_CLASSES) - {"server", "workstation"}
    assert set(checklist.CLASS_KIND.values()) <= set(checklist.KINDS)
    hosts = [
        ("198.18.0.60", "02:00:00:00:00:60", "bmc", None, "ilo-srv1", [443]),
        ("198.18.0.61", "02:00:00:00:00:61", "ups", None, "ups1", [80]),
        ("198.18.0.62", "02:00:00:00:00:62", "storage", None, None, [443]),
    ]
    with Store(tmp_path / "acme.db") as store:
        write_discover_run(store, hosts)
        checklist.prefill(store, credentials={}, platforms=[], manual_accounts=[])
        found = {(i.kind, i.target): i for i in checklist.items(store)}
    assert found[("other_network_device", "198.18.0.60")].note.startswith("bmc ilo-srv1")
    assert found[("other_network_device", "198.18.0.61")].handling == "manual"
    assert ("nas_san", "198.18.0.62") in found
