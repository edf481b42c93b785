"""The review use case on rule bases built directly: stored per run, the next run's rule diff,
the audit event, the report section and CSV tables, the exported fixes and rule CSV."""

from __future__ import annotations

import dataclasses
import json
import stat

from agent.context import AppContext
from agent.ops import review as usecase
from agent.review.model import AddressSet, Rule, cidr_range
from reports.model import build_report
from reports.tables import report_tables
from tests.test_review_findings import planted_base


def test_review_is_stored_diffed_reported_and_exported(keyring_env, tmp_path):
    app = AppContext(store_path=str(tmp_path / "acme.db"))
    try:
        first = usecase.review_bases(app, [planted_base()])
        base = planted_base()
        base.rules = [r for r in base.rules if r.id != "9"]  # removed
        base.rules[0] = dataclasses.replace(
            base.rules[0], sources=AddressSet((cidr_range("10.0.0.0/16"),))
        )  # changed
        base.rules.append(Rule("11", "policy", 11, "deny", log=True))  # added
        second = usecase.review_bases(app, [base])

        assert first["diff"]["previous_run_id"] is None
        diff = second["diff"]
        assert diff["previous_run_id"] == first["run_id"]
        assert [d["rule"] for d in diff["removed"]] == ["9"]
        assert [d["rule"] for d in diff["added"]] == ["11"]
        assert diff["changed"] == [
            {"device": "fw1", "table": "policy", "rule": "1", "fields": ["sources"]}
        ]
        assert "3 rule change(s) since run" in usecase.summary_line(second)

        rows = app.store.db.execute(
            "SELECT rule, subject FROM findings WHERE run_id = ? AND source = 'review'",
            (second["run_id"],),
        ).fetchall()
        assert ("rule_shadowed", "fw1: 6") in {tuple(r) for r in rows}
        events = [json.loads(line) for line in app.audit_log_path.read_text().splitlines()]
        assert [e["action"] for e in events].count("review.run") == 2

        report = build_report(app.store, client="acme", operator="t")
        section = report["review"]
        assert section["run_id"] == second["run_id"]
        (device,) = section["devices"]
        assert device["exposures"][0]["nat"] == "web-vip"  # the exposure table comes first
        assert {c["rule"] for c in section["changes"]["removed"]} == {"9"}
        tables = report_tables(report)
        assert len(tables["firewall_rules"][1]) == len(base.rules)
        assert tables["firewall_findings"][1]

        written = usecase.export(second, tmp_path / "out")
        assert sorted(p.name for p in written) == ["fixes-fw1.txt", "rules-fw1.csv"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
        assert "set status disable" in written[0].read_text()
    finally:
        app.close()


def test_a_device_name_never_escapes_the_output_folder(tmp_path):
    document = {
        "devices": [{"device": "../../etc/x", "fixes": "# f\n", "rules": []}],
    }
    written = usecase.export(document, tmp_path / "out")
    assert all(p.parent == tmp_path / "out" for p in written)
    assert [p.name for p in written] == ["fixes-etc_x.txt", "rules-etc_x.csv"]


def test_csv_cells_from_a_device_cannot_be_formulas(tmp_path):
    row = usecase.rule_row("fw", "fortinet", Rule("1", "t", 0, "permit", comment="=cmd()"))
    document = {"devices": [{"device": "fw", "fixes": "", "rules": [row]}]}
    (path,) = usecase.export(document, tmp_path)
    assert "'=cmd()" in path.read_text()
