"""keyturn ad against the shared session lab, configured only by the lab's site config.

Everything comes from what `keyturn lab up` wrote: the [ad] table (server, CA, user) and the
AD password it seeded into the session keyring. The answers must be the fixture's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KEYTURN
from tests.test_ad_lab import assert_matches_fixture

pytestmark = pytest.mark.lab


def test_keyturn_ad_from_the_lab_site_config(lab, lab_cli_env: dict[str, str]) -> None:
    expected = lab.manifest["ad"]["expected"]
    result = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "ad", "--stale-days",
         str(expected["thresholds"]["stale_days"]), "--json", "-"],
        capture_output=True, text=True, env=lab_cli_env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the fixture plants findings
    doc = json.loads(result.stdout)
    assert doc["domain"]["sid"] == expected["domain"]["sid"]
    assert doc["ldap"]["server"] == f"{lab.manifest['ad']['server']}:636"
    assert doc["ldap"]["tls_validated"] is True
    assert_matches_fixture(doc, expected)
    # Issue 13 item 8: the run is in the audit log (DC, bind account, TLS mode, counts) and
    # the checklist lists the directory's admin and service accounts.
    store = Path(lab_cli_env["KEYTURN_STORE"])
    lines = store.with_name(store.stem + ".audit.jsonl").read_text().splitlines()
    [event] = [e for e in map(json.loads, lines) if e["action"] == "ad.audit"]
    assert event["target"] == expected["domain"]["dns_name"] and event["run_id"] == doc["run_id"]
    assert event["detail"]["server"] == doc["ldap"]["server"]
    assert event["detail"]["bind_account"] == lab.manifest["ad"]["admin_user"]
    assert (event["detail"]["tls_insecure"], event["detail"]["tls_validated"]) == (False, True)
    assert event["detail"]["privileged_accounts"] == doc["counts"]["privileged_accounts"]
    assert event["detail"]["findings"] == len(doc["findings"])
    listed = subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "checklist", "--json", "-"],
        capture_output=True, text=True, env=lab_cli_env, timeout=60,
    )  # fmt: skip
    items = json.loads(listed.stdout)
    domain = expected["domain"]["dns_name"]
    assert any(i["target"] == domain and i["account"] == "Administrator" for i in items)
