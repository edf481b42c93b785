"""The report of a real onboarding of the shared lab: ``keyturn discover`` and ``keyturn ad``
in the technician namespace (real nmap, real Samba DC), then ``keyturn report``. The report
must agree with the lab's manifest and expected AD answers, and hold none of its passwords."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.core.secret_store import SecretStore
from tests.conftest import KEYTURN

pytestmark = pytest.mark.lab


def keyturn(lab, env, *args, timeout=300):
    return subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "--non-interactive", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_report_of_the_lab_matches_the_lab(lab, lab_cli_env, tmp_path):
    env = lab_cli_env
    discovered = keyturn(lab, env, "discover", "--ports", "22,80,443", "--json", "-")
    assert discovered.returncode in (0, 1), discovered.stderr
    audited = keyturn(lab, env, "ad", "--json", "-")
    assert audited.returncode in (0, 1), audited.stderr
    out = tmp_path / "out"
    result = keyturn(
        lab,
        env,
        "report",
        "--format",
        "json",
        "--format",
        "html",
        "--format",
        "csv",
        "--format",
        "md",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(
        next(Path(p) for p in result.stdout.split() if p.endswith(".json")).read_text()
    )

    lan_hosts = {h["ip"] for h in lab.manifest["hosts"] if h["ip"].startswith("198.18.0.")}
    assert lan_hosts <= {h["ip"] for h in document["hosts"]}
    expected = lab.manifest["ad"]["expected"]
    groups = {
        g["name"]: {m["sam"] for m in g["members"] if m["kind"] in ("user", "computer")}
        for g in document["privileged_groups"]
    }
    for name, group in expected["privileged"].items():
        want = {sam for sam, m in group["members"].items() if m["kind"] in ("user", "computer")}
        assert groups.get(name, set()) == want, name
    assert document["rras"]["dialin_allowed"] == expected["dialin_allowed"]
    flagged = {(f["rule"], f["subject"]) for f in document["findings"]}
    assert {(rule, sam) for rule, sams in expected["findings"].items() for sam in sams} <= flagged
    assert document["domain"]["dns_name"] == expected["domain"]["dns_name"]

    # No lab password (devices, Linux hosts, the AD admin) in any file the report wrote.
    secrets = SecretStore(lab.client)
    values = [
        secrets.get(entry.host, entry.user, version).reveal()
        for entry in secrets.entries()
        for version in entry.versions
    ]
    assert values
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert not [v for v in values if v.encode() in written]
