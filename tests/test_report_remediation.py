"""Issue 16's report parts: ACL findings with their evidence, and the AD remediation section
(applied, skipped, refused, undone) from the apply/undo journals, in JSON, CSV and Markdown.
The HTML side is checked in the real browser (tests/test_report_html.py)."""

from __future__ import annotations

import csv
import json

import pytest

from inventory.store import Store
from reports.model import build_report, evidence_lines
from reports.render import render_json, write_reports
from tests.report_fixtures import SCRIPT, add_remediation_runs, populate


@pytest.fixture
def store():
    with Store(":memory:") as store:
        runs = populate(store)
        runs |= add_remediation_runs(store)
        store.runs_by_role = runs  # type: ignore[attr-defined]
        yield store


def _report(store: Store, **kwargs) -> dict:
    return build_report(store, client="acme", operator="bob", **kwargs)


def test_acl_finding_carries_its_evidence(store):
    (finding,) = [f for f in _report(store)["findings"] if f["rule"] == "adminsdholder_ace"]
    assert finding["subject"].startswith("ACME\\old<b>prov</b>")
    assert finding["evidence"]["aces"][0]["ace_hex"] == "00001400ff000f00"
    (line,) = finding["evidence_lines"]
    assert line.startswith("allow GENERIC_ALL to ACME\\old<b>prov</b>")
    assert line.endswith("(S-1-5-21-1-2-3-1300)")


def test_evidence_lines_name_values_and_absent_attributes():
    assert evidence_lines({"ms-DS-MachineAccountQuota": 10}) == ["ms-DS-MachineAccountQuota: 10"]
    assert evidence_lines({"ms-Mcs-AdmPwdExpirationTime": None, "spns": ["a", "b"]}) == [
        "ms-Mcs-AdmPwdExpirationTime: absent",
        "spns: a; b",
    ]
    assert evidence_lines(
        {"aces": [{"type": "allow", "rights": ["WRITE_DACL"], "object_type_name":
                   "DS-Replication-Get-Changes-All", "principal": "x", "sid": "S-1-1",
                   "inherited": True}]}
    ) == ["allow WRITE_DACL (DS-Replication-Get-Changes-All) to x (S-1-1), inherited"]  # fmt: skip


def test_remediation_section_from_the_journals(store):
    runs = store.runs_by_role
    section = _report(store)["remediation"]
    assert section["apply_runs"] == [runs["apply"]] and section["undo_runs"] == [runs["undo"]]
    assert section["counts"] == {"applied": 2, "skipped": 1}
    assert section["undone"] == 1
    by_id = {a["id"]: a for a in section["actions"]}
    assert by_id["a1"]["undone"] and by_id["a1"]["undo"]["run_id"] == runs["undo"]
    assert by_id["a1"]["operator"] == "alice" and by_id["a1"]["bound_as"] == "audit@acme.example"
    assert by_id["a1"]["time"] == "2026-11-30T08:00:01Z"
    assert by_id["a2"]["status"] == "skipped" and SCRIPT in by_id["a2"]["reason"]
    assert not by_id["a3"]["undone"] and not by_id["a3"]["reversible"]


def test_a_report_as_of_an_earlier_run_has_no_later_remediation(store):
    runs = store.runs_by_role
    assert _report(store, run_id=runs["ad2"])["remediation"] is None
    section = _report(store, run_id=runs["apply"])["remediation"]
    assert section["undone"] == 0 and section["undo_runs"] == []


def test_json_csv_and_markdown_carry_the_section(store, tmp_path):
    report = _report(store)
    assert json.loads(render_json(report))["remediation"]["counts"]["applied"] == 2
    written = write_reports(report, ["csv", "md"], tmp_path)
    (table,) = [p for p in written if p.name == "remediation.csv"]
    with table.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:6] == ["apply_run", "id", "rule", "action", "target", "status"]
    assert [r[1] for r in rows[1:]] == ["a1", "a2", "a3"]
    assert rows[1][12:14] == [str(store.runs_by_role["undo"]), "applied"]
    (findings,) = [p for p in written if p.name == "findings.csv"]
    text = findings.read_text(encoding="utf-8-sig")
    assert "allow GENERIC_ALL to ACME\\old<b>prov</b>" in text and "\x1b" not in text
    (markdown,) = [p for p in written if p.suffix == ".md"]
    md_text = markdown.read_text()
    assert "## AD remediation" in md_text and "2 applied, 1 skipped; 1 undone." in md_text
    assert "<script>" not in md_text and "&lt;script&gt;" in md_text
