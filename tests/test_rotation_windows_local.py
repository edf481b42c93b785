"""Kind windows_local against real Samba standalone servers in a namespace of this module's
own: the local Administrator found by RID 500 whatever its name (renamed, localised), reset
over SAMR, proven by fresh SMB session setups (old refused), reconciled after a kill."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from agent.core.secret import Secret
from lab import netns, smb_host
from rotation.contract import Target
from tests.rotation_helpers import OLD, Harness
from tests.test_rotation_faults import ReadOnlyKeyring

SUBNET = "198.18.251"
# The RID-500 password live on each host now (tests of this module rotate it in turn).
LIVE: dict[str, str] = {}
HOSTS = {  # address -> (NetBIOS name, name of the RID-500 account)
    f"{SUBNET}.31": ("WS31", "admin-old"),
    f"{SUBNET}.32": ("WS32", "Администратор"),
    f"{SUBNET}.33": ("WS33", "Administrator"),
}
# .33 does not offer SMB encryption (impacket then derived no SAMR session key).
OPTIONS = {f"{SUBNET}.33": {"server smb encrypt": "off"}}


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[str, smb_host.SmbHost]]:
    ns = f"kt-wl-{secrets.token_hex(3)}"
    netns.create(ns)
    started: dict[str, smb_host.SmbHost] = {}
    try:
        netns.add_veth(ns, "h0", "h0peer", ns, address=f"{SUBNET}.31/24")
        for ip in sorted(HOSTS)[1:]:
            netns.ip("addr", "add", f"{ip}/24", "dev", "h0", netns=ns)
        for ip, (netbios, admin) in HOSTS.items():
            host = smb_host.create(
                ip, ns, netbios=netbios, admin_name=admin, admin_password=OLD,
                users={"alice": "Alice-Planted-1234"}, options=OPTIONS.get(ip),
            )  # fmt: skip
            started[ip] = smb_host.start(host)
            LIVE[ip] = OLD
        yield started
    finally:
        for host in started.values():
            smb_host.stop(host)
        netns.delete(ns)


def smb_login_works(host: smb_host.SmbHost, name: str, password: str) -> bool:
    from impacket.smbconnection import SMBConnection

    with netns.inside(host.netns):
        conn = SMBConnection(host.ip, host.ip, sess_port=445, timeout=10)
    try:
        conn.login(name, password)
    except Exception:
        return False
    finally:
        conn.close()
    return True


def harness(tmp_path, host: smb_host.SmbHost) -> Harness:
    h = Harness(tmp_path, scope=f"{SUBNET}.0/24")
    h.secrets.put(host.ip, "rid:500", Secret(LIVE[host.ip]), "current", platform="windows_local")
    return h


def settle(h: Harness, host: smb_host.SmbHost) -> str:
    """Record the RID-500 password the keyring now holds as the live one (and return it)."""
    LIVE[host.ip] = h.secrets.get(host.ip, "rid:500").reveal()
    return LIVE[host.ip]


def target(host: smb_host.SmbHost, **overrides) -> Target:
    fields = {"host": host.ip, "platform": "windows_local", "username": "rid:500", "port": 445}
    return Target(**{**fields, **overrides})


@pytest.mark.parametrize("ip", sorted(HOSTS))
def test_rid500_rotates_whatever_its_name(hosts, keyring_env, tmp_path, ip):
    host = hosts[ip]
    h = harness(tmp_path, host)
    old = LIVE[ip]
    with netns.inside(host.netns):  # the engine's threads are born in the namespace too
        [result] = h.rotate(target(host))
    new = settle(h, host)
    assert result.status == "rotated", result.error
    assert (result.verified, result.old_password_refused) == (True, True)
    assert new != old and smb_login_works(host, host.admin_name, new)
    assert not smb_login_works(host, host.admin_name, old)
    # Another local account is untouched.
    assert smb_login_works(host, "alice", "Alice-Planted-1234")


def test_dry_run_and_hostile_names_change_nothing(hosts, keyring_env, tmp_path):
    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)
    hostile = ["alice;x", "admin\nnet user x", "admin\x1b]52;c;x\x07", "admin user", "rid:5x"]
    with netns.inside(host.netns):
        [plan] = h.rotate(target(host), dry_run=True)
        refused = h.rotate(*[target(host, username=name) for name in hostile])
    assert plan.status == "unchanged" and "would set" in plan.plan
    assert [r.status for r in refused] == ["failed"] * len(hostile)
    # Told by the audit events, not the error text: scrub() redacts any word an earlier test
    # in this process registered as a secret, and which tests share a process varies.
    steps = h.steps()
    assert steps.count(("preflight.target", "refused")) == len(hostile), steps
    assert not any(step in ("escrow", "change") for step, _ in steps), steps
    assert smb_login_works(host, host.admin_name, LIVE[host.ip])


def test_a_named_account_rotates_through_the_rid500_login(hosts, keyring_env, tmp_path):
    host = hosts[f"{SUBNET}.32"]
    h = harness(tmp_path, host)
    h.secrets.put(host.ip, "alice", Secret("Alice-Planted-1234"), "current")
    with netns.inside(host.netns):
        [result] = h.rotate(target(host, username="alice", login="rid:500"))
        [missing] = h.rotate(target(host, username="nobody", login="rid:500"))
    assert result.status == "rotated", result.error
    new = h.secrets.get(host.ip, "alice").reveal()
    assert smb_login_works(host, "alice", new) and not smb_login_works(host, "alice", OLD)
    assert missing.status == "failed"


class Killed(BaseException):
    """Stands for SIGKILL in-process (as in test_rotation_faults)."""


@pytest.mark.parametrize("point", ["escrow", "change", "verify"])
def test_killed_mid_rotation_then_next_run_reconciles(hosts, keyring_env, tmp_path, point):
    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)

    def die(step: str) -> None:
        if step == point:
            raise Killed

    with netns.inside(host.netns), pytest.raises(Killed):
        h.engine(crash=die).rotate([target(host)])
    assert h.secrets.get(host.ip, "rid:500", "pending") is not None
    with netns.inside(host.netns):
        [again] = h.rotate(target(host))
    live = settle(h, host)
    assert again.status == "rotated", again.error
    assert ("reconcile", "current_works" if point == "escrow" else "promoted") in h.steps()
    assert smb_login_works(host, host.admin_name, live)


def test_cli_targets_file_json_kind_and_checklist(hosts, cli_env, tmp_path):
    """`keyturn rotate` run inside the hosts' namespace (as `keyturn lab exec` would)."""
    import json
    import sqlite3
    import subprocess

    from tests.conftest import KEYTURN

    host = hosts[f"{SUBNET}.31"]
    config = tmp_path / "site.toml"
    config.write_text(f'client = "acme"\nscope = ["{SUBNET}.0/24"]\n')
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[[account]]\nkind = "windows_local"\nhost = "{host.ip}"\nname = "rid:500"\n'
    )

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*netns.exec_prefix(host.netns), KEYTURN, "--config", str(config), *args],
            capture_output=True, text=True, env={**cli_env, **(env or {})}, timeout=120,
        )  # fmt: skip

    stored = run(
        "secrets", "set", host.ip, "rid:500", "--platform", "windows_local", "--password-env",
        "PW", env={"PW": LIVE[host.ip]},
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    out = tmp_path / "rotate.json"
    rotated = run("rotate", "--targets", str(targets), "--yes", "--json", str(out))
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    [result] = json.loads(out.read_text())["results"]
    assert (result["kind"], result["status"], result["username"]) == (
        "windows_local", "rotated", "rid:500",
    )  # fmt: skip
    new = run("secrets", "get", host.ip, "rid:500", "--reveal").stdout.strip()
    old, LIVE[host.ip] = LIVE[host.ip], new
    assert smb_login_works(host, host.admin_name, new)
    assert old not in rotated.stdout + rotated.stderr + out.read_text()
    db = sqlite3.connect(tmp_path / "store" / "client.db")
    items = db.execute("SELECT kind, account, state FROM checklist_items").fetchall()
    db.close()
    assert ("workstation_admin", "rid:500", "changed") in items


# -- the fault matrix's cases that a real Samba host can play without an SMB fault proxy ----
def test_rejected_by_the_host_leaves_everything_as_it_was(hosts, keyring_env, tmp_path):
    """A login without the right to reset rid:500 (an ordinary local account): the host
    refuses the change; the old password stays current and logs in, no pending is left."""
    host = hosts[f"{SUBNET}.32"]
    h = harness(tmp_path, host)
    h.secrets.put(host.ip, "alice", Secret("Alice-Planted-1234"), "current")
    with netns.inside(host.netns):
        [result] = h.rotate(target(host, login="alice"))
    assert result.status == "failed", result.error
    assert "change" not in dict(h.steps()) or ("change", "rejected") in h.steps()
    assert h.secrets.get(host.ip, "rid:500", "pending") is None
    assert h.secrets.get(host.ip, "rid:500").reveal() == LIVE[host.ip]
    assert smb_login_works(host, host.admin_name, LIVE[host.ip])


def test_verify_logon_fails_then_rolled_back(hosts, keyring_env, tmp_path):
    """The account is disabled right after the change (its verification logon is refused)
    and enabled again once keyturn has reset the old password: rolled_back, old proven."""
    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)
    h.hooks[("change", "ok")] = lambda: smb_host.set_disabled(host, host.admin_name, True)
    h.hooks[("revert", "ok")] = lambda: smb_host.set_disabled(host, host.admin_name, False)
    with netns.inside(host.netns):
        [result] = h.rotate(target(host))
    smb_host.set_disabled(host, host.admin_name, False)  # whatever happened above
    assert ("verify", "failed") in h.steps()
    assert result.status == "rolled_back", result.error
    assert h.secrets.get(host.ip, "rid:500", "pending") is None
    assert smb_login_works(host, host.admin_name, LIVE[host.ip])


def test_escrow_fails_before_the_host_is_touched(hosts, keyring_env, tmp_path):
    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)
    h.secrets.refresh()
    h.secrets.backend = ReadOnlyKeyring(h.secrets.backend)
    with netns.inside(host.netns):
        [result] = h.rotate(target(host))
    assert result.status == "failed" and "escrow failed" in result.error
    assert "change" not in [s for s, _ in h.steps()]
    assert smb_login_works(host, host.admin_name, LIVE[host.ip])


def test_keyring_fails_at_promote_then_next_run_promotes(hosts, keyring_env, tmp_path):
    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)
    writable = h.secrets.backend

    def keyring_goes_read_only() -> None:
        h.secrets.refresh()
        h.secrets.backend = ReadOnlyKeyring(writable)

    h.hooks[("save", "not_needed")] = keyring_goes_read_only
    with netns.inside(host.netns):
        [result] = h.rotate(target(host))
    h.secrets.backend = writable
    assert result.status == "needs_attention" and "pending" in result.error, result.error
    pending = h.secrets.get(host.ip, "rid:500", "pending").reveal()
    assert smb_login_works(host, host.admin_name, pending)
    with netns.inside(host.netns):
        [again] = h.rotate(target(host))
    assert ("reconcile", "promoted") in h.steps() and again.status == "rotated", again.error
    assert smb_login_works(host, host.admin_name, settle(h, host))


def test_connection_drops_right_after_the_change(hosts, keyring_env, tmp_path, monkeypatch):
    """The reset reaches the real host, then the SMB connection goes down before its answer
    is read (injected around impacket's call: the SMB3 session is encrypted, so a relay
    cannot tell the reset from other traffic). keyturn proves the new password with a
    fresh logon and finishes the rotation (rolled forward); the old one is refused."""
    from impacket.dcerpc.v5 import samr

    host = hosts[f"{SUBNET}.31"]
    h = harness(tmp_path, host)
    old = LIVE[host.ip]
    real = samr.hSamrSetNTInternal1

    def reset_then_drop(dce, handle, password):
        real(dce, handle, password)
        dce.get_rpc_transport().get_smb_connection().close()
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(samr, "hSamrSetNTInternal1", reset_then_drop)
    with netns.inside(host.netns):
        [result] = h.rotate(target(host))
    new = settle(h, host)
    assert ("change", "unknown") in h.steps()
    assert result.status == "rotated", result.error
    assert smb_login_works(host, host.admin_name, new)
    assert not smb_login_works(host, host.admin_name, old)
