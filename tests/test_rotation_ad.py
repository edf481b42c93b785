"""Kind ``ad`` beyond the shared conformance suite and fault matrix (which also run on it):
the bind account rotated last with its stored credential, accounts keyturn must never reset,
badPwdCount, a fine-grained policy, and the command line with the canary grep. Everything
runs against the pool's real Samba DC (tests/ad_rotation_lab.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import ldap3
import pytest

from agent.core.secret import Secret
from rotation.drivers.ad import complexity_refusal, refusal_for_entry
from tests.ad_rotation_lab import BIND_ACCOUNT
from tests.conftest import KEYTURN
from tests.rotation_helpers import OLD, Harness, login_works, pool

__all__ = ["pool"]


def domain_admin(lab, name: str, password: str) -> None:
    """A second bind account (Domain Admins member), so rotating it leaves the lab's own."""
    lab.add_account(name, password)
    group = f"CN=Domain Admins,CN=Users,{lab.base_dn}"
    member = f"CN={name},CN=Users,{lab.base_dn}"
    assert lab.admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [member])]}), lab.admin.result


def test_bind_account_goes_last_and_its_credential_is_updated(pool, keyring_env, tmp_path):
    from rotation.targets import bind_account_last

    first, second = pool.take("ad"), pool.take("ad")
    lab = first.lab
    binder, binder_old = "kt-binder", "Binder-Planted-2024"
    domain_admin(lab, binder, binder_old)
    h = Harness(tmp_path)
    # One DC, one keyring host: every ad credential (the bind account's too) lives under it.
    host = first.host
    for user, password in ((binder, binder_old), (first.account, OLD), (second.account, OLD)):
        h.secrets.put(host, user, Secret(password), "current", platform="ad")
    targets = [
        first.target(login=binder, username=binder),
        first.target(login=binder),
        first.target(login=binder, username=second.account),
    ]
    ordered = bind_account_last(targets)
    assert [t.username for t in ordered] == [first.account, second.account, binder]
    results = h.engine().rotate(ordered)
    assert [r.status for r in results] == ["rotated"] * 3, [r.error for r in results]
    # The other accounts were reset while the bind account still had its old password.
    users = [e.username for e in h.events if e.step == "result"]
    assert users[-1] == binder
    new_bind = h.secrets.get(host, binder).reveal()
    assert new_bind != binder_old and lab.login_works(binder, new_bind)
    assert not lab.login_works(binder, binder_old)
    for account in (first.account, second.account):
        assert lab.login_works(account, h.secrets.get(host, account).reveal())


@pytest.mark.parametrize("name", ["krbtgt", "KRBTGT", "DC1$", "gmsa-sql$", "CORP\\krbtgt"])
def test_never_rotated_accounts_are_refused_before_connecting(pool, keyring_env, tmp_path, name):
    device = pool.take("ad")
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target(username=name), dry_run=False)
    assert result.status == "failed" and "refused" in result.error
    assert "rotate themselves" in result.error or "krbtgt" in result.error
    assert device.command_log() == []


def test_directory_objects_keyturn_must_not_reset():
    """What account_exists refuses once it has read the object (names can lie)."""
    assert "managed" in refusal_for_entry(
        {"objectClass": ["top", "msDS-GroupManagedServiceAccount"]}
    )
    assert "domain controller" in refusal_for_entry({"userAccountControl": [str(0x2000 | 0x80000)]})
    assert "computer" in refusal_for_entry({"userAccountControl": [str(0x1000)]})
    assert "krbtgt" in refusal_for_entry({"objectSid": "S-1-5-21-1-2-3-502"})
    assert refusal_for_entry({"objectClass": ["user"], "userAccountControl": ["512"]}) is None
    assert complexity_refusal("abcdefgH12", "svc", "") is None  # three classes
    assert complexity_refusal("abcdefghij", "svc", "") is not None
    assert "account name" in complexity_refusal("Xx-svc_sql-9", "svc_sql", "")
    assert "display name" in complexity_refusal("Xx-Backup9", "svc_b", "Nightly Backup")


def test_bad_password_count_rises_by_at_most_one(pool, keyring_env, tmp_path):
    devices = [pool.take("ad") for _ in range(3)]
    lab = devices[0].lab
    h = Harness(tmp_path)
    for device in devices:
        h.seed(device)
    before = {d.account: int(lab.attribute(d.account, "badPwdCount") or 0) for d in devices}
    results = h.engine(parallel=3).rotate([d.target() for d in devices])
    assert [r.status for r in results] == ["rotated"] * 3
    assert all(r.old_password_refused for r in results)
    for device in devices:
        after = int(lab.attribute(device.account, "badPwdCount") or 0)
        assert after - before[device.account] <= 1, (device.account, before, after)


def test_fine_grained_policy_that_the_password_would_not_meet(pool, keyring_env, tmp_path):
    device = pool.take("ad")
    lab = device.lab
    pso = f"CN=kt-long,CN=Password Settings Container,CN=System,{lab.base_dn}"
    member = f"CN={device.account},CN=Users,{lab.base_dn}"
    ok = lab.admin.add(
        pso,
        ["top", "msDS-PasswordSettings"],
        {
            "msDS-PasswordSettingsPrecedence": 1,
            "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
            "msDS-PasswordHistoryLength": 0,
            "msDS-PasswordComplexityEnabled": "TRUE",
            "msDS-MinimumPasswordLength": 60,
            "msDS-MinimumPasswordAge": 0,
            "msDS-MaximumPasswordAge": -36288000000000,
            "msDS-LockoutThreshold": 0,
            "msDS-LockoutObservationWindow": -18000000000,
            "msDS-LockoutDuration": -18000000000,
            "msDS-PSOAppliesTo": member,
        },
    )
    assert ok, lab.admin.result
    try:
        h = Harness(tmp_path)
        h.seed(device)
        [result] = h.rotate(device.target())
        assert result.status == "failed" and "requires 60 characters" in result.error
        assert not [what for what, changed in device.command_log() if changed]
        assert login_works(device, OLD) and h.stored(device, "pending") is None
        # A run asked for 64 characters satisfies it.
        [longer] = h.engine(password_length=64).rotate([device.target()])
        assert longer.status == "rotated", longer.error
        assert len(h.stored(device)) == 64
    finally:
        lab.admin.delete(pso)


def test_cli_targets_file_json_kind_checklist_and_canary(pool, cli_env, tmp_path: Path):
    device, other = pool.take("ad"), pool.take("ad")
    lab = device.lab
    config = tmp_path / "site.toml"
    config.write_text(
        'client = "acme"\nscope = ["127.0.0.0/8"]\n'
        f'[ad]\nserver = "{device.host}:{device.port}"\nuser = "{BIND_ACCOUNT}"\n'
    )
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[[account]]\nkind = "ad"\nname = "{device.account}"\n\n'
        f'[[account]]\nkind = "ad"\nname = "{other.account}"\n'
    )
    admin = lab.admin_password.reveal()

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KEYTURN, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=120,
        )

    for user, password in ((BIND_ACCOUNT, admin), (device.account, OLD), (other.account, OLD)):
        stored = run(
            "secrets", "set", device.host, user, "--platform", "ad", "--password-env", "PW",
            env={"PW": password},
        )  # fmt: skip
        assert stored.returncode == 0, stored.stderr
    plan = run("rotate", "--targets", str(targets), "--dry-run", "--json", "-")
    assert plan.returncode == 0, plan.stderr
    log_file = tmp_path / "keyturn.log"
    out = tmp_path / "rotate.json"
    rotated = run(
        "-vv", "--log-file", str(log_file), "rotate", "--targets", str(targets), "--yes",
        "--json", str(out),
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    document = json.loads(out.read_text())
    assert {r["kind"] for r in document["results"]} == {"ad"}
    assert [r["status"] for r in document["results"]] == ["rotated", "rotated"]
    new = run("secrets", "get", device.host, device.account, "--reveal").stdout.strip()
    assert lab.login_works(device.account, new) and not lab.login_works(device.account, OLD)
    db = sqlite3.connect(tmp_path / "store" / "client.db")
    items = db.execute(
        "SELECT kind, account, state FROM checklist_items WHERE account LIKE 'kt-ad-%'"
    ).fetchall()
    assert sorted(items) == sorted(
        [("windows_service_account", a, "changed") for a in (device.account, other.account)]
    )
    artefacts = {
        "output": plan.stdout + plan.stderr + rotated.stdout + rotated.stderr,
        "json": out.read_text(),
        "log": log_file.read_text(),
        "db rows": repr(db.execute("SELECT * FROM rotation_steps").fetchall())
        + repr(db.execute("SELECT * FROM run_documents").fetchall()),
    }
    db.close()
    for path in (tmp_path / "store").iterdir():
        artefacts[path.name] = path.read_bytes().decode("latin-1")
    for name, text in artefacts.items():
        for secret in (OLD, new, admin):
            assert secret not in text, f"a planted password leaked into {name}"


def test_dry_run_lists_the_spn_hosts_and_says_what_it_did_not_check(pool, keyring_env, tmp_path):
    device = pool.take("ad")
    lab = device.lab
    dn = f"CN={device.account},CN=Users,{lab.base_dn}"
    spns = [f"MSSQLSvc/sql-{device.account}.corp.test:1433", f"HTTP/web-{device.account}.corp.test"]
    assert lab.admin.modify(dn, {"servicePrincipalName": [(ldap3.MODIFY_REPLACE, spns)]})
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target(), dry_run=True)
    assert result.status == "unchanged"
    assert f"sql-{device.account}.corp.test, web-{device.account}.corp.test" in result.plan
    assert "NOT checked" in result.plan and "gMSA" in result.plan
    assert login_works(device, OLD)


def test_an_account_signed_in_as_itself_changes_its_own_password(pool, keyring_env, tmp_path):
    """Only the account's old password is known (login = the account): an ordinary user may
    not reset its own password, so the driver falls back to its own change (delete the old
    value, add the new), proven by a fresh bind; the old one is refused after."""
    device = pool.take("ad")
    lab = device.lab
    # The DC's minimum password age applies to a change (not to a reset): none for this
    # account, which an admin reset a moment ago.
    pso = f"CN=kt-self-{device.account},CN=Password Settings Container,CN=System,{lab.base_dn}"
    assert lab.admin.add(
        pso,
        ["top", "msDS-PasswordSettings"],
        {
            "msDS-PasswordSettingsPrecedence": 2,
            "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
            "msDS-PasswordHistoryLength": 24,
            "msDS-PasswordComplexityEnabled": "TRUE",
            "msDS-MinimumPasswordLength": 7,
            "msDS-MinimumPasswordAge": 0,
            "msDS-MaximumPasswordAge": -36288000000000,
            "msDS-LockoutThreshold": 0,
            "msDS-LockoutObservationWindow": -18000000000,
            "msDS-LockoutDuration": -18000000000,
            "msDS-PSOAppliesTo": f"CN={device.account},CN=Users,{lab.base_dn}",
        },
    ), lab.admin.result
    try:
        h = Harness(tmp_path)
        h.secrets.put(device.host, device.account, Secret(OLD), "current", platform="ad")
        [result] = h.rotate(device.target(login=device.account))
        assert result.status == "rotated", result.error
        assert (result.verified, result.old_password_refused) == (True, True)
        new = h.stored(device)
        assert lab.login_works(device.account, new) and not lab.login_works(device.account, OLD)
        # The reset was refused (no right), then the account's own change went through.
        assert [entry for entry in device.command_log() if entry[0] == "change"] == [
            ("change", True), ("change", True),
        ]  # fmt: skip
    finally:
        lab.admin.delete(pso)
