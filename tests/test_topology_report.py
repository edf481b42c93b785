"""A topology run in the store: saved and read back, diffed, and drawn in the HTML report,
which real headless Chromium opens without a console error or a request."""

from __future__ import annotations

import base64
import json

import pytest

from agent.topology.build import build
from agent.topology.diff import diff
from agent.topology.draw import svg
from agent.topology.graph import elements
from agent.topology.parsers import MacEntry
from inventory import topology as store_topology
from inventory.store import Store
from lab.wiring import synthetic_facts
from reports.model import build_report
from reports.render import write_reports
from tests.report_fixtures import populate
from tests.test_report_html import Browser

HOSTILE = "<img src=x onerror=alert(1)>"


def _topology_run(store: Store, facts) -> dict:
    with store.run("topology", "alice", "acme") as run_id:
        doc = build(facts, subnets=["10.0.0.0/16"]).to_json()
        doc["run_id"] = run_id
        doc["diff"] = diff(store_topology.latest_document(store, before=run_id), doc)
        doc["svg"], doc["svg_note"] = svg(*elements(doc, doc["diff"]))
        store_topology.save(store, run_id, doc)
    return doc


def _two_runs(store: Store) -> tuple[dict, dict]:
    facts, _ = synthetic_facts(2, 3, 4)
    facts[3].name = HOSTILE  # an access switch reporting markup as its name
    first = _topology_run(store, facts)
    moved = facts[3].mac_table[0]
    facts[3].mac_table[0] = MacEntry(moved.mac, moved.vlan, "GigabitEthernet1/0/30")
    second = _topology_run(store, facts)
    return first, second


def test_runs_are_stored_and_the_second_shows_the_moved_host(tmp_path):
    store = Store(tmp_path / "acme.db")
    try:
        first, second = _two_runs(store)
        assert store_topology.document(store, first["run_id"])["hosts"] == first["hosts"]
        [moved] = second["diff"]["hosts_moved"]
        assert moved["to"]["port"] == "GigabitEthernet1/0/30"
        ports = store_topology.host_ports(store, second["run_id"])
        assert ports[moved["mac"]][1] == "GigabitEthernet1/0/30"
        rows = store.db.execute("SELECT COUNT(*) FROM topology_links WHERE run_id = ?",
                                (second["run_id"],)).fetchone()[0]  # fmt: skip
        assert rows == len(second["links"]) == 8
    finally:
        store.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("topology-report")
    store = Store(tmp / "acme.db")
    populate(store)
    _two_runs(store)
    report = build_report(store, client="acme", operator="alice")
    (html,) = write_reports(report, ["html"], tmp / "out")
    (js,) = write_reports(report, ["json"], tmp / "out")
    store.close()
    browser = Browser(tmp / "profile", tmp / "chromium.log")
    try:
        browser.navigate(html.as_uri())
        yield browser, html, tmp, json.loads(js.read_text())
    finally:
        browser.close()


def test_the_report_draws_the_diagram_offline_without_errors(loaded):
    browser, html, tmp, report = loaded
    errors = [
        e
        for e in browser.events
        if (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e["method"] == "Network.requestWillBeSent"]  # fmt: skip
    assert requests == [html.as_uri()]
    assert report["topology"]["changes"]["hosts_moved"]
    nodes = browser.evaluate("document.querySelectorAll('#topology svg g.node').length")
    assert nodes == len(report["topology"]["devices"]) + len(report["topology"]["groups"]) + 1
    assert browser.evaluate("document.querySelectorAll('img, [onerror]').length") == 0
    text = browser.evaluate("document.getElementById('topology').innerText")
    assert HOSTILE in text and "host moved" in text
    assert browser.evaluate("document.querySelectorAll('#topology details').length") == len(
        report["topology"]["groups"]
    )
    browser.evaluate("document.getElementById('topology').scrollIntoView()")
    shot = browser.page("Page.captureScreenshot", {"format": "png"})
    path = tmp / "topology.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}")
    assert path.stat().st_size > 20_000


def test_csv_and_markdown_carry_the_diagram_tables(tmp_path):
    import csv

    store = Store(tmp_path / "acme.db")
    try:
        populate(store)
        _two_runs(store)
        report = build_report(store, client="acme", operator="alice")
    finally:
        store.close()
    written = write_reports(report, ["csv", "md"], tmp_path / "out")
    csvs = {p.stem: p for p in written if p.suffix == ".csv"}
    with csvs["topology_hosts"].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["switch", "vlan", "port", "name", "ip", "mac"] and len(rows) == 1 + 24
    md = next(p for p in written if p.suffix == ".md").read_text()
    assert "Network diagram:** 9 devices, 8 links, 24 hosts on switch ports, 1 moved" in md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["topology"], "no device to map: store credentials"),
        (["topology", "--source", "snmp"], "no device to read over SNMP"),
        (["topology", "--json", "a-folder"], "is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli_env, tmp_path, args, message):
    import subprocess

    from tests.conftest import KEYTURN

    (tmp_path / "a-folder").mkdir()
    result = subprocess.run([KEYTURN, *args], env=cli_env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    # Exactly one error line (click's own usage errors add a usage and a --help hint).
    errors = [line for line in result.stderr.splitlines()
              if line.startswith(("keyturn: error:", "Error:"))]  # fmt: skip
    assert len(errors) == 1, result.stderr
