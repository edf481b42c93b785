"""Telnet management is a finding, never a reason to call a device "rotated by keyturn":
discover's document lists `cleartext_management` per host, the store keeps it, the report
shows it, and prefill makes a telnet-only switch a manual item."""

from __future__ import annotations

from agent.discovery import management_findings
from inventory import checklist
from inventory import hosts as inventory_hosts
from inventory.store import Store
from reports.model import build_report


def _host(ip: str, mac: str, platform: str | None, ports: list[tuple[int, str]]) -> dict:
    return {
        "ip": ip,
        "mac": mac,
        "vendor": "Cisco",
        "hostnames": [],
        "device_class": "switch",
        "platform": platform,
        "ports": [
            {"port": port, "proto": "tcp", "state": "open", "service": service}
            for port, service in ports
        ],
    }


HOSTS = [
    _host("198.18.0.8", "00:00:0c:00:00:08", "cisco_ios", [(23, "telnet")]),
    _host("198.18.0.9", "00:00:0c:00:00:09", "cisco_ios", [(22, "ssh"), (23, "telnet")]),
    _host("198.18.0.10", "00:00:0c:00:00:0a", "cisco_ios", [(22, "ssh")]),
    _host("198.18.0.11", "00:00:0c:00:00:0b", "cisco_ios", [(161, "snmp")]),
]


def test_telnet_is_a_finding_whatever_else_answers():
    findings = management_findings(HOSTS)
    assert [(f["id"], f["severity"], f["host"]) for f in findings] == [
        ("cleartext_management", "high", "198.18.0.8"),
        ("cleartext_management", "high", "198.18.0.9"),
    ]
    assert "tcp/23" in findings[0]["detail"] and "no SSH" in findings[0]["detail"]
    assert "SSH also answers" in findings[1]["detail"]


def test_stored_reported_and_only_ssh_devices_are_automatic(tmp_path):
    with Store(tmp_path / "acme.db") as store:
        run_id = store.begin_run("discover", "tester", "acme")
        document = {"hosts": HOSTS, "findings": management_findings(HOSTS)}
        inventory_hosts.save(store, run_id, document)
        store.finish_run(run_id, "ok")

        report = build_report(store, operator="tester", client="acme")
        shown = {(f["rule"], f["subject"]) for f in report["findings"]}
        assert shown == {
            ("cleartext_management", "198.18.0.8"),
            ("cleartext_management", "198.18.0.9"),
        }

        accounts = {h["ip"]: ["admin"] for h in HOSTS}
        checklist.prefill(store, credentials=accounts, platforms=["cisco_ios"])
        items = {i.target: i for i in checklist.items(store)}
        # Telnet only / SNMP only: manual, never "rotated by keyturn".
        for ip in ("198.18.0.8", "198.18.0.11"):
            assert items[ip].handling == "manual"
            assert "rotated by keyturn" not in (items[ip].note or "")
        assert "telnet only" in items["198.18.0.8"].note
        for ip in ("198.18.0.9", "198.18.0.10"):
            assert items[ip].handling == "automatic"


def test_telnet_transport_is_refused_for_a_platform_without_a_telnet_driver(tmp_path):
    """Issue 15 built telnet for the IOS family: other platforms still get one line."""
    import pytest

    from agent.core.errors import ConfigError
    from rotation.targets import load_targets_file

    path = tmp_path / "targets.toml"
    path.write_text(
        '[[device]]\nhost = "198.18.0.8"\nplatform = "juniper_junos"\nusername = "admin"\n'
        'transport = "telnet"\n'
    )
    with pytest.raises(ConfigError, match=r"telnet.*not supported for 'juniper_junos'.*SSH"):
        load_targets_file(path)
    path.write_text(
        '[[device]]\nhost = "198.18.0.8"\nplatform = "cisco_ios"\nusername = "admin"\n'
        'transport = "telnet"\n'
    )
    [target] = load_targets_file(path)
    assert (target.transport, target.port) == ("telnet", 23)


def test_inventory_targets_a_telnet_only_device_only_with_allow_telnet():
    """Issue 15: a telnet-only host with a telnet driver used to be skipped silently; now
    the run is refused with one line naming --allow-telnet, and with it the host is rotated
    over telnet. An SNMP-only host is never a target."""
    import pytest

    from agent.core.errors import UsageError
    from rotation.targets import targets_from_inventory

    hosts = [dict(h, ports=h["ports"]) for h in HOSTS]
    with pytest.raises(UsageError, match=r"198\.18\.0\.8 .*--allow-telnet"):
        targets_from_inventory(hosts, lambda ip: ["admin"])
    targets = targets_from_inventory(hosts, lambda ip: ["admin"], allow_telnet=True)
    assert sorted((t.host, t.transport, t.port) for t in targets) == [
        ("198.18.0.10", "ssh", 22),
        ("198.18.0.8", "telnet", 23),
        ("198.18.0.9", "ssh", 22),
    ]
