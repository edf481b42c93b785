"""CSV is Excel-safe (formula triggers defused, quoted, UTF-8 with BOM); Markdown is inert."""

from __future__ import annotations

import csv

import pytest

from inventory.store import Store
from reports.model import build_report
from reports.render import md, render_markdown, write_reports
from reports.tables import neutralise
from tests.report_fixtures import FORMULA, IMG, SCRIPT, populate


@pytest.fixture
def written(tmp_path):
    with Store(":memory:") as store:
        populate(store)
        report = build_report(store, client="acme", operator="bob")
    return report, write_reports(report, ["csv", "md"], tmp_path)


def read(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_trigger_is_neutralised(prefix):
    assert neutralise(prefix + "cmd|' /C calc'!A0") == "'" + prefix + "cmd|' /C calc'!A0"


def test_plain_values_are_untouched():
    assert neutralise("198.18.0.1") == "198.18.0.1"
    assert neutralise(-5) == "-5"  # a number is not a formula
    assert neutralise(True) == "yes" and neutralise(None) == ""
    assert neutralise(["=a", "b"]) == "'=a; b"


def test_one_file_per_table_with_bom_and_quotes(written):
    _, paths = written
    csvs = {p.stem: p for p in paths if p.suffix == ".csv"}
    assert set(csvs) == {
        "hosts",
        "privileged_members",
        "rras",
        "findings",
        "service_accounts",
        "rotations",
        "changes",
        "checklist",
        "controls",
    }
    raw = csvs["hosts"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.splitlines()[0].startswith(b'\xef\xbb\xbf"ip","mac"')
    rows = read(csvs["hosts"])
    assert len(rows) == 1 + 7


def test_planted_strings_are_neutralised_in_csv(written):
    _, paths = written
    cells = [cell for p in paths if p.suffix == ".csv" for row in read(p)[1:] for cell in row]
    assert cells, "no data rows"
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
    assert "'" + FORMULA in cells  # hostname, SNMP sysName, account description
    hosts = read(next(p for p in paths if p.stem == "hosts"))
    printer = next(r for r in hosts if r[0] == "198.18.0.10")
    assert SCRIPT in printer and IMG in printer  # kept as text, quoted, for the auditor to see
    rotations = read(next(p for p in paths if p.stem == "rotations"))
    assert rotations[2][-1] == "login refused: " + FORMULA  # not at the start: harmless


def test_changes_csv_lists_planted_changes(written):
    _, paths = written
    rows = read(next(p for p in paths if p.stem == "changes"))
    assert rows[0] == ["severity", "change", "subject", "group", "before", "now", "detail"]
    assert {(r[1], r[2]) for r in rows[1:]} >= {
        ("mac_changed", "198.18.0.40"),
        ("privileged_member_added", "mallory"),
    }


def test_markdown_summary_is_short_and_inert(written):
    report, paths = written
    text = next(p for p in paths if p.suffix == ".md").read_text()
    assert text.startswith("# keyturn report: acme")
    assert "**Hosts:** 7" in text and "**Rotations:** 2 done, 1 failed" in text
    assert "mac changed" in text and "mallory" in text
    assert len(text.splitlines()) < 40
    assert md(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md("[x](http://evil)") == "\\[x\\](http://evil)"
    assert text == render_markdown(report)
