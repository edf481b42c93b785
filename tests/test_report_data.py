"""The report's data: which runs it covers, the diff between runs, summary figures, controls,
and the JSON document's schema. On a store populated in the producers' agreed shapes."""

from __future__ import annotations

import json

import pytest

from agent.core.errors import OperationFailed
from inventory import queries
from inventory.audit import Verdict
from inventory.store import Store
from reports.model import SCHEMA, build_report
from reports.render import render_json
from tests.report_fixtures import FORMULA, add_sweep_only_run, populate


@pytest.fixture
def populated():
    with Store(":memory:") as store:
        yield store, populate(store)


@pytest.fixture
def store(populated):
    return populated[0]


@pytest.fixture
def roles(populated):
    """Run ids by role: discover1, ad1, discover2, ad2, rotate."""
    return populated[1]


def report(store, **kwargs):
    return build_report(store, client="acme", operator="bob", **kwargs)


def changes(r):
    return {(c["change"], c["subject"]) for c in r["changes"]}


def test_latest_state_uses_newest_runs_of_each_kind(store, roles):
    r = report(store)
    assert r["runs"]["discover"]["id"] == roles["discover2"]
    assert r["runs"]["ad"]["id"] == roles["ad2"]
    assert r["runs"]["baseline"] == {
        "discover": r["runs"]["baseline"]["discover"] | {"id": roles["discover1"]},
        "ad": r["runs"]["baseline"]["ad"] | {"id": roles["ad1"]},
    }
    ips = [h["ip"] for h in r["hosts"]]
    assert ips == [
        "198.18.0.1",
        "198.18.0.2",
        "198.18.0.3",
        "198.18.0.10",
        "198.18.0.30",
        "198.18.0.40",
        "198.18.0.50",
    ]
    assert [x["host"] for x in r["rotations"]] == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    assert r["rotations"][0]["operator"] == "alice"


def test_planted_changes_are_all_found(store):
    r = report(store)
    assert changes(r) == {
        ("host_added", "198.18.0.50"),
        ("host_gone", "198.18.0.20"),
        ("port_opened", "198.18.0.2"),
        ("port_closed", "198.18.0.1"),
        ("mac_changed", "198.18.0.40"),
        ("privileged_member_added", "mallory"),
    }
    by_kind = {c["change"]: c for c in r["changes"]}
    assert by_kind["mac_changed"]["severity"] == "critical"
    assert (by_kind["mac_changed"]["old"], by_kind["mac_changed"]["new"]) == (
        "00:1a:2b:00:00:40",
        "de:ad:be:ef:00:40",
    )
    assert by_kind["port_opened"]["new"] == "8080/tcp (http-proxy)"
    assert by_kind["port_closed"]["old"] == "23/tcp (telnet)"
    assert by_kind["privileged_member_added"]["group"] == "Domain Admins"
    assert by_kind["privileged_member_added"]["severity"] == "critical"
    assert r["summary"]["critical_changes"] == 2


def test_run_pins_state_and_rotations(store, roles):
    r = report(store, run_id=roles["ad1"])
    assert (r["runs"]["discover"]["id"], r["runs"]["ad"]["id"]) == (
        roles["discover1"],
        roles["ad1"],
    )
    assert "198.18.0.20" in [h["ip"] for h in r["hosts"]]
    assert r["rotations"] == []
    assert r["changes"] == []  # nothing earlier to compare with
    members = {m["sam"] for g in r["privileged_groups"] for m in g["members"]}
    assert "mallory" not in members


def test_explicit_diff_from(store, roles):
    assert changes(report(store, diff_from=roles["ad1"])) == changes(report(store))
    # Diffing the latest state against itself shows nothing.
    assert report(store, diff_from=roles["rotate"])["changes"] == []
    # Against the first discovery only: host changes, no AD baseline yet.
    only_hosts = changes(report(store, diff_from=roles["discover1"]))
    assert ("mac_changed", "198.18.0.40") in only_hosts
    assert not any(kind == "privileged_member_added" for kind, _ in only_hosts)


def test_failed_and_unfinished_runs_are_not_the_latest(store, roles):
    failed = store.begin_run("discover", "mallory", "acme")
    store.finish_run(failed, "failed")
    running = store.begin_run("ad", "mallory", "acme")
    r = report(store)
    assert r["runs"]["discover"]["id"] == roles["discover2"]
    assert r["runs"]["ad"]["id"] == roles["ad2"]
    assert running > failed


def test_unknown_run_is_an_error(store):
    with pytest.raises(OperationFailed):
        report(store, run_id=999)
    with pytest.raises(OperationFailed):
        report(store, diff_from=999)


def test_summary_figures(store):
    s = report(store)["summary"]
    assert s["hosts"] == 7
    assert s["hosts_by_class"]["router"] == 1 and "nas" not in s["hosts_by_class"]
    assert s["privileged_accounts"] == 4  # Administrator, alice.admin, svc_backup, mallory
    assert s["dialin_allowed"] == 2
    assert s["rotations"] == {"done": 2, "failed": 1, "not_attempted": 0}
    # critical: backdoor_description and the ACL finding adminsdholder_ace (issue 16)
    assert s["findings_by_severity"] == {"critical": 2, "high": 1, "medium": 1, "low": 1}


def test_privileged_groups_paths_and_empty_groups(store):
    groups = {g["name"]: g for g in report(store)["privileged_groups"]}
    assert set(groups) == {"Domain Admins", "Enterprise Admins", "Account Operators"}
    assert groups["Account Operators"]["members"] == []
    alice = next(m for m in groups["Domain Admins"]["members"] if m["sam"] == "alice.admin")
    assert alice["path"] == ["IT Admins", "Domain Admins"]


def test_findings_and_service_accounts_name_their_rules(store):
    r = report(store)
    assert r["findings"][0]["severity"] == "critical"
    support = next(f for f in r["findings"] if f["subject"] == "support")
    assert "<script>" in support["description"]  # carried raw; renderers escape
    svc = {a["sam"]: a for a in r["service_accounts"]}
    assert svc["svc_backup"]["rules"] == ["password_never_expires", "privileged_service_account"]
    assert svc["svc_sql"]["rules"] == []
    assert svc["svc_backup"]["description"] == FORMULA  # from the stored directory object


def test_checklist_figures(store):
    checklist = report(store)["checklist"]
    assert checklist["cis_4_7"] == {"no_longer_inherited": 4, "total": 6, "share": 0.6667}
    kinds = {k["kind"]: k for k in checklist["by_kind"]}
    assert (kinds["device_admin"]["changed"], kinds["device_admin"]["total"]) == (2, 3)
    assert kinds["ad_account"]["accepted_risk"] == 1


def test_controls_say_what_is_evidenced(store):
    ok = {c["id"]: c for c in report(store, audit=Verdict(True, 3))["controls"]}
    assert ok["6.5"]["status"] == "not evidenced"
    assert ok["1.1"]["status"] == "evidenced" and "7 IP devices" in ok["1.1"]["evidence"]
    assert ok["4.7"]["status"] == "partial" and "4 of 6" in ok["4.7"]["evidence"]
    assert ok["A.8.15"]["status"] == "evidenced"
    bad = {c["id"]: c for c in report(store, audit=Verdict(False, 3, 2, "edited"))["controls"]}
    assert bad["A.8.15"]["status"] == "not evidenced" and "FAILED" in bad["A.8.15"]["evidence"]
    unverified = {c["id"]: c for c in report(store)["controls"]}
    assert unverified["A.8.15"]["status"] == "not evidenced"


def test_json_document_schema(store):
    document = json.loads(render_json(report(store, audit=Verdict(True, 3))))
    assert document["schema"] == SCHEMA == "keyturn.report/1"
    assert set(document) == {
        "schema",
        "generated",
        "generated_by",
        "keyturn_version",
        "client",
        "runs",
        "domain",
        "computers",
        "hosts",
        "privileged_groups",
        "rras",
        "service_accounts",
        "findings",
        "rotations",
        "changes",
        "checklist",
        "audit_log",
        "topology",
        "summary",
        "controls",
        "remediation",
        "web_dns",
        "review",
    }
    assert document["audit_log"] == {
        "ok": True,
        "entries": 3,
        "first_bad": None,
        "reason": None,
        "summary": "audit log intact: 3 entries",
    }
    assert set(document["hosts"][0]) == {
        "ip",
        "mac",
        "vendor",
        "mac_randomized",
        "hostnames",
        "device_class",
        "platform",
        "platform_confidence",
        "os",
        "snmp",
        "http_title",
        "sources",
        "ports",
    }
    assert set(document["rotations"][0]) == {
        "id",
        "run_id",
        "host",
        "platform",
        "username",
        "status",
        "outcome",
        "verified",
        "saved",
        "old_password_refused",
        "error",
        "started",
        "finished",
        "operator",
    }
    assert set(document["changes"][0]) == {
        "change",
        "severity",
        "subject",
        "group",
        "old",
        "new",
        "detail",
    }


def test_empty_store_gives_an_empty_report():
    with Store(":memory:") as store:
        r = report(store)
    assert r["hosts"] == [] and r["changes"] == [] and r["privileged_groups"] == []
    assert r["summary"]["hosts"] == 0
    assert {c["status"] for c in r["controls"]} == {"not evidenced"}


def test_onboard_runs_count_as_each_kind(store):
    # An onboard run that left discover and ad documents is the newest run of both kinds.
    run = store.begin_run("onboard", "bob", "acme")
    with store.transaction() as db:
        for kind in ("discover", "ad"):
            db.execute(
                "INSERT INTO run_documents (run_id, kind, data) VALUES (?, ?, '{}')", (run, kind)
            )
    store.finish_run(run, "ok")
    state = queries.state_runs(store)
    assert state.discover.id == state.ad.id == run


def test_sweep_only_run_reports_no_port_changes(store):
    run = add_sweep_only_run(store)
    r = report(store)
    assert r["runs"]["discover"]["id"] == run
    assert r["hosts"][0]["ports"] == []
    assert changes(r) == {("privileged_member_added", "mallory")}
