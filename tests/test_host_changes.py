"""One shape of a host and one diff (issue 12): discover's ``diff`` document and the
report's changes are two views of ``inventory.hosts.changes`` over ``Host`` records, and a
host survives document -> store -> read back unchanged."""

from __future__ import annotations

from inventory import hosts, queries
from inventory.hosts import Change
from inventory.model import Host, Port
from inventory.store import Store


def host(ip: str, mac: str, *ports: int, **fields) -> Host:
    return Host(ip=ip, mac=mac, ports=[Port(p, service="svc") for p in ports], **fields)


BEFORE = [
    host("198.18.0.1", "02:00:00:00:00:01", 22, hostnames=["gw"], device_class="router"),
    host("198.18.0.2", "02:00:00:00:00:02", 80),
    host("198.18.0.3", "02:00:00:00:00:03"),
]
AFTER = [
    host("198.18.0.1", "02:00:00:00:00:01", 22, 443, hostnames=["gw1"], device_class="switch"),
    host("198.18.0.2", "02:00:00:00:00:99", 80),  # another device answers for .2
    host("198.18.0.4", "02:00:00:00:00:04"),
]


def document(run_id: int, found: list[Host]) -> dict:
    return {"run_id": run_id, "scope": ["198.18.0.0/29"], "exclude": [], "ports": "top100",
            "hosts": [h.to_json() for h in found]}  # fmt: skip


def test_one_vocabulary_for_every_change() -> None:
    found = hosts.changes({h.ip: h for h in BEFORE}, {h.ip: h for h in AFTER}, compare_ports=True)
    assert sorted((c.kind, c.ip) for c in found) == sorted([
        (Change.HOST_GONE, "198.18.0.3"), (Change.HOST_ADDED, "198.18.0.4"),
        (Change.PORT_OPENED, "198.18.0.1"), (Change.NAMES_CHANGED, "198.18.0.1"),
        (Change.CLASS_CHANGED, "198.18.0.1"), (Change.MAC_CHANGED, "198.18.0.2"),
    ])  # fmt: skip
    quiet = hosts.changes({h.ip: h for h in BEFORE}, {h.ip: h for h in BEFORE},
                          compare_ports=True)  # fmt: skip
    assert quiet == []


def test_discover_view_and_report_view_agree() -> None:
    diff = hosts.diff(document(1, BEFORE), document(2, AFTER))
    assert [h["ip"] for h in diff["new"]] == ["198.18.0.4"]
    assert [h["ip"] for h in diff["gone"]] == ["198.18.0.3"]
    assert diff["mac_changed"] == [
        {"ip": "198.18.0.2", "old": "02:00:00:00:00:02", "new": "02:00:00:00:00:99"}
    ]
    [router] = [c for c in diff["changed"] if c["ip"] == "198.18.0.1"]
    assert router["ports"] == {"added": ["443/tcp"], "removed": []}
    assert router["names"] == {"added": ["gw1"], "removed": ["gw"]}
    assert router["class"] == {"old": "router", "new": "switch"}

    with Store(":memory:") as store:
        for run, found in ((1, BEFORE), (2, AFTER)):
            assert store.begin_run("discover", "tester", "acme") == run
            hosts.save(store, run, document(run, found))
            store.finish_run(run, "ok")
        stored = [o.host for o in queries.hosts_as_of(store, 2)]
        assert [h.to_json() for h in stored] == [
            {**h.to_json(), "os": {"name": None, "accuracy": None}} for h in AFTER
        ]
        report = {(c["change"], c["subject"]) for c in queries.diff_hosts(store, 1, 2)}
    # The same changes the discover view lists (the report leaves names and class out).
    assert report == {
        ("host_gone", "198.18.0.3"), ("host_added", "198.18.0.4"),
        ("port_opened", "198.18.0.1"), ("mac_changed", "198.18.0.2"),
    }  # fmt: skip


def test_hosts_recorded_alike_are_skipped_and_the_rest_still_compared() -> None:
    """diff() leaves out hosts whose recorded dicts are equal in both documents; a host that
    differs only where no change is reported (its sources) is compared and reports nothing,
    and a changed one among them is still found."""
    before = [host(f"198.18.0.{n}", f"02:00:00:00:00:{n:02x}", 22) for n in range(1, 40)]
    after = [host(h.ip, h.mac, 22) for h in before]
    after[5].sources = ["arp", "nmap"]  # recorded differently, nothing to report
    after[7].ports.append(Port(443, service="https"))  # a port opened
    diff = hosts.diff(document(1, before), document(2, after), after)
    assert [c["ip"] for c in diff["changed"]] == ["198.18.0.8"]
    assert diff["changed"][0]["ports"] == {"added": ["443/tcp"], "removed": []}
    assert diff["new"] == diff["gone"] == diff["mac_changed"] == []
