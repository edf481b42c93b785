"""Issue 16 against the real Samba DC: the new rules' evidence, and plan -> apply -> re-audit
-> undo with the directory's touched attributes byte-identical afterwards.

Uses test_ad_lab's DC (a module of its own: a fresh DC in this test's namespace), so the
writes here never reach the DC other modules read; each test restores what it changes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.directory import sd
from agent.directory.connection import DirectoryConnection
from agent.directory.plan import guid_of
from lab import netns
from tests.conftest import KEYTURN
from tests.test_ad_lab import PASSWORD, Dc, _write, running_dc

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def dc() -> Iterator[Dc]:
    """A DC of this module's own: the writes here never reach test_ad_lab's."""
    with running_dc() as running:
        yield running


CYCLE_RULES = ("dcsync_rights", "adminsdholder_ace", "machine_account_quota",
               "pre_win2000_compatible_access", "des_only", "orphaned_admincount",
               "constrained_delegation_protocol_transition", "rbcd_on_privileged",
               "asrep_roastable", "privileged_not_protected")  # fmt: skip


def _audit(dc: Dc) -> dict:
    result = dc.keyturn("--stale-days", str(dc.expected["thresholds"]["stale_days"]), "--json", "-")
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)


def _subjects(doc: dict, rules=CYCLE_RULES) -> set[tuple[str, str]]:
    return {
        (f["rule"], f.get("account") or f.get("principal") or f["object"])
        for f in doc["findings"]
        if f["rule"] in rules
    }


def _snapshot(conn: DirectoryConnection, plan: dict) -> dict[str, dict[str, list[bytes]]]:
    """Every attribute any action touches, as the DC returns it (descriptors: owner, group,
    DACL), by objectGUID."""
    out: dict[str, dict[str, list[bytes]]] = {}
    for action in plan["actions"]:
        names = sorted({*action["before"], *action["after"]})
        entry = conn.read(f"<GUID={action['target_guid']}>", names, sd_flags=sd.SD_FLAGS_READ)
        values = out.setdefault(action["target_guid"], {})
        for name in names:
            values[name] = sorted(entry.raw.get(name.lower(), []))
    return out


def _runs(dc: Dc, command: str) -> list[int]:
    db = sqlite3.connect(dc.env["KEYTURN_STORE"])
    try:
        return [r[0] for r in db.execute("SELECT id FROM runs WHERE command = ?", (command,))]
    finally:
        db.close()


def test_new_rules_carry_their_evidence(dc: Dc) -> None:
    doc = _audit(dc)
    by_rule: dict[str, list[dict]] = {}
    for finding in doc["findings"]:
        by_rule.setdefault(finding["rule"], []).append(finding)
    (dcsync,) = by_rule["dcsync_rights"]
    assert dcsync["object"] == dc.expected["domain"]["dns_name"] and "account" not in dcsync
    assert dcsync["principal"] == "svc_sync" and dcsync["evidence"]["get_changes"] is True
    assert [a["object_type_name"] for a in dcsync["evidence"]["aces"]] == [
        "DS-Replication-Get-Changes-All"
    ]
    (holder,) = by_rule["adminsdholder_ace"]
    assert holder["principal"] == "it.support"
    assert holder["evidence"]["aces"][0]["rights"] == ["FULL_CONTROL"]
    (rbcd,) = by_rule["rbcd_on_privileged"]  # FS01$ carries RBCD too: a server, not flagged
    assert (
        rbcd["evidence"]["msDS-AllowedToActOnBehalfOfOtherIdentity"][0]["principal"] == "WS-IT-01$"
    )
    (owner,) = by_rule["privileged_object_owner"]
    assert (owner["account"], owner["evidence"]["owner"]) == ("adm.jsmith", "it.support")
    (quota,) = by_rule["machine_account_quota"]
    assert quota["evidence"] == {"ms-DS-MachineAccountQuota": 10}
    (policy,) = by_rule["weak_password_policy"]
    assert (policy["evidence"]["minPwdLength"], policy["evidence"]["lockoutThreshold"]) == (7, 0)
    (transition,) = by_rule["constrained_delegation_protocol_transition"]
    assert "cifs/fs01.corp.keyturn.test" in transition["evidence"]["msDS-AllowedToDelegateTo"]
    laps = {f["account"] for f in by_rule["laps_missing"]}
    assert not laps & {"FS01$", "APP01$"}  # they carry ms-Mcs-AdmPwdExpirationTime


def test_plan_apply_reaudit_undo_restores_every_byte(dc: Dc, tmp_path: Path) -> None:
    first = _audit(dc)
    plan_file, ldif_dir = tmp_path / "plan.json", tmp_path / "ldif"
    rule_args = [arg for rule in CYCLE_RULES for arg in ("--rule", rule)]
    planned = dc.keyturn("plan", *rule_args, "--out", str(plan_file), "--ldif", str(ldif_dir))
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(plan_file.read_text())
    assert plan_file.stat().st_mode & 0o777 == 0o600
    assert {a["rule"] for a in plan["actions"]} == set(CYCLE_RULES)
    by_action = {a["action"]: a for a in plan["actions"]}
    apply_ldif = (ldif_dir / "apply.ldif").read_text()
    assert apply_ldif.count("changetype: modify") == len(plan["actions"])
    admin = dc.connect()
    try:
        before = _snapshot(admin, plan)
        # Someone changes one target between plan and apply: that action must be skipped.
        domain = dc.info.base_dn
        _write(admin, domain, "ms-DS-MachineAccountQuota", "5")
        applied = dc.keyturn("apply", str(plan_file), "--yes")
        _write(admin, domain, "ms-DS-MachineAccountQuota", "10")
    finally:
        admin.close()
    assert applied.returncode == 1, applied.stderr  # one skipped, one refused, one failed
    run_id = _runs(dc, "ad-apply")[-1]
    journal = _journal(dc, run_id)
    status = {e["id"]: (e["status"], e.get("reason", "")) for e in journal}
    quota = by_action["set_machine_account_quota_zero"]["id"]
    assert status[quota][0] == "skipped" and "changed since the plan" in status[quota][1]
    rbcd = by_action["clear_rbcd"]["id"]
    assert status[rbcd][0] == "failed" and "system" in status[rbcd][1]  # Samba 4.17
    bind = [e for e in journal if e["status"] == "refused"]
    assert [e["action"] for e in bind] == ["add_to_protected_users"]  # Administrator
    assert all(e["operator"] == "tester" and e["time"] for e in journal)
    _assert_journalled_before_acting(dc, run_id, journal)

    after = _subjects(_audit(dc))
    gone = _subjects(first) - after
    assert after == {
        ("machine_account_quota", dc.expected["domain"]["dns_name"]),
        ("rbcd_on_privileged", "DC1$"),
        ("privileged_not_protected", "Administrator"),
    }
    assert {rule for rule, _ in gone} == set(CYCLE_RULES) - {
        "machine_account_quota",
        "rbcd_on_privileged",
    }

    undone = dc.keyturn("undo", "--run", str(run_id), "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    admin = dc.connect()
    try:
        assert _snapshot(admin, plan) == before  # descriptors included, byte for byte
    finally:
        admin.close()
    assert _subjects(_audit(dc)) == _subjects(first)


def _journal(dc: Dc, run_id: int) -> list[dict]:
    db = sqlite3.connect(dc.env["KEYTURN_STORE"])
    try:
        row = db.execute(
            "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, "ad_journal")
        ).fetchone()
    finally:
        db.close()
    return json.loads(row[0])


def _assert_journalled_before_acting(dc: Dc, run_id: int, journal: list[dict]) -> None:
    log = Path(dc.env["KEYTURN_STORE"]).with_name("client.audit.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    mine = [
        (e["detail"]["id"], e["outcome"])
        for e in events
        if e["run_id"] == run_id and e["action"] == "ad.remediate"
    ]
    assert mine == [(e["id"], s) for e in journal for s in ("pending", e["status"])]
    verified = subprocess.run(
        [*netns.exec_prefix(dc.ns), KEYTURN, "--config", str(dc.config), "audit", "verify"],
        capture_output=True,
        text=True,
        env=dc.env,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_apply_needs_yes_without_a_terminal_and_touches_nothing(dc: Dc, tmp_path: Path) -> None:
    _audit(dc)
    plan_file = tmp_path / "plan.json"
    assert dc.keyturn("plan", "--rule", "des_only", "--out", str(plan_file)).returncode == 0
    runs = _runs(dc, "ad-apply")
    result = dc.keyturn("apply", str(plan_file))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "keyturn: error: not at a terminal: review the plan and pass --yes to go ahead"
    ]
    assert _runs(dc, "ad-apply") == runs


def test_guard_never_disables_the_bind_account(dc: Dc, tmp_path: Path) -> None:
    admin = dc.connect()
    try:
        entry = admin.read(
            f"CN=Administrator,CN=Users,{dc.info.base_dn}", ["objectGUID", "userAccountControl"]
        )
    finally:
        admin.close()
    uac = int(entry.text("userAccountControl"))
    plan = {
        "version": 1,
        "domain": dc.expected["domain"]["dns_name"],
        "actions": [
            {
                "id": "g1",
                "rule": "stale_account",
                "target_dn": entry.dn,
                "target_guid": guid_of(entry),
                "action": "disable_account",
                "reversible": True,
                "risk": "",
                "before": {"userAccountControl": [str(uac)]},
                "after": {"userAccountControl": [str(uac | 2)]},
            }
        ],
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    result = dc.keyturn("apply", str(plan_file), "--yes")
    assert result.returncode == 1
    assert "refused" in result.stdout and "bound as" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_a_garbage_plan_is_one_line_exit_2(dc: Dc, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps(
            {
                "version": 1,
                "domain": "x",
                "actions": [
                    {
                        "id": "z",
                        "rule": "r",
                        "target_dn": "d",
                        "target_guid": "not-a-guid",
                        "action": "disable_account",
                        "reversible": True,
                        "risk": "",
                        "before": {},
                        "after": {},
                    }
                ],
            }
        )
    )
    result = dc.keyturn("apply", str(plan_file), "--yes")
    assert result.returncode == 2
    assert result.stderr.strip() == "keyturn: error: plan: action z: target_guid is not a GUID"


def _krbtgt(dc: Dc) -> tuple[str, str, str]:
    admin = dc.connect()
    try:
        entry = admin.read(f"CN=krbtgt,CN=Users,{dc.info.base_dn}", ["objectGUID", "pwdLastSet"])
    finally:
        admin.close()
    return entry.dn, guid_of(entry), entry.text("pwdLastSet")


def test_krbtgt_reset_is_staged_and_forced_only_on_request(dc: Dc, tmp_path: Path) -> None:
    """First reset applies (pwdLastSet moves); an immediate second one is refused with the
    time it may run; --force lets it through; undo lists it and leaves it alone. Last in the
    module: it rolls this DC's Kerberos keys (only simple binds follow)."""
    dn, guid, before = _krbtgt(dc)
    plan = {
        "version": 1,
        "domain": dc.expected["domain"]["dns_name"],
        "actions": [
            {
                "id": "k1",
                "rule": "krbtgt_password_age",
                "target_dn": dn,
                "target_guid": guid,
                "action": "reset_krbtgt",
                "reversible": False,
                "risk": "every TGT",
                "before": {"pwdLastSet": [before]},
                "after": {},
                "staged": True,
            }
        ],
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))

    first = dc.keyturn("apply", str(plan_file), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "applied" in first.stdout
    _, _, after_first = _krbtgt(dc)
    assert int(after_first) > int(before)
    first_run = _runs(dc, "ad-apply")[-1]
    (entry,) = _journal(dc, first_run)
    assert entry["status"] == "applied"
    assert entry["before"] == {"pwdLastSet": [before]}
    assert entry["after"] == {"pwdLastSet": [after_first]}

    second = dc.keyturn("apply", str(plan_file), "--yes")
    assert second.returncode == 1
    assert "refused" in second.stdout and "waits until" in second.stdout
    assert "--force" in second.stdout
    assert _krbtgt(dc)[2] == after_first

    forced = dc.keyturn("apply", str(plan_file), "--yes", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert int(_krbtgt(dc)[2]) > int(after_first)

    # Nothing of the generated passwords is kept: the journal and audit details carry
    # pwdLastSet only, and the store holds no unicodePwd value.
    store = Path(dc.env["KEYTURN_STORE"]).read_bytes()
    assert b"unicodePwd" not in store

    undone = dc.keyturn("undo", "--run", str(first_run), "--yes")
    assert "k1    reset_krbtgt cannot be undone: left as is" in undone.stdout
    assert int(_krbtgt(dc)[2]) > int(after_first)
